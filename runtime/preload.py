"""Import torch and transformers before the port opens.

Why: loading a C extension (torch's shared libraries, transformers' lazy imports of
torch._dynamo and friends) holds the GIL for up to hundreds of milliseconds at a time, and
no Python thread can answer a probe meanwhile. Measured on the 2-core development machine
with a 0.9 GB model: importing on the loader thread after the port opened gave probe p99
78-119 ms (max 0.2-0.3 s) while the start took 4.9-7.4 s; importing first gave p99 4 ms
(max 4.5 ms) and 4.1-4.3 s to Ready. So the libraries are part of process start, like the
interpreter: the port opens a few seconds later, and from then on every probe answers at
once, through verification, weight loading and warm-up, which is the part that scales with
the model (minutes for large ones). Reading the model's `config.json` also imports its
architecture's module now; any problem there is left for the pipeline to report properly.

OpenMP's wait policy is left to OpenMP (its default: a worker spins briefly after a parallel
region, then sleeps). This module used to set `OMP_WAIT_POLICY=PASSIVE` so that torch's
workers slept at once and left the event loop a core; measured with torch 2.15 on the 2-core
machine (bench/bench_serving.py, 1 GB float32 Llama) that halved serving speed — one client
6.5-7.0 → 12.3 tokens/s, eight clients 30-34 → 47.5 tokens/s (each of a step's ~300 parallel
regions has to wake a sleeping worker first: the likely cost) — while probes kept their speed
without it (p99 9.3 ms under 32 streaming clients, goal < 10 ms). Set the variable in
the pod's environment to choose otherwise.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("modeldeploy.runtime")


def libraries(model_dir: Path) -> float:
    """Import the inference stack (and the model's architecture module); return seconds."""
    started = time.perf_counter()
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from transformers import modeling_utils  # noqa: F401

    from modeldeploy.runtime import engine, loader  # noqa: F401

    _architecture(model_dir)
    return time.perf_counter() - started


def _architecture(model_dir: Path) -> None:
    """Resolve the model class from config.json, which imports its module; ignore failures."""
    from modeldeploy.runtime import loader, tasks
    from modeldeploy.runtime.errors import LoadError

    if not (model_dir / "config.json").is_file():
        return  # per-pod fetch mode: nothing there yet
    try:
        config = loader.read_config(model_dir)
        loader.model_class(config, tasks.detect(config, model_dir, "auto"))
    except LoadError as exc:
        log.debug("preload skipped the model class: %s", exc.message)
