"""A runtime loaded in the test's own process (real model, engine, scheduler and app), for
tests that reach inside: swap a model's forward pass for a test double, read the scheduler.

The doubles stand in for hardware that is not here: a GPU that dies (`CudaFaultDouble`) and a
device slow enough that requests overlap for a while (`SlowDeviceDouble`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import torch

from modeldeploy.runtime import loader, pipeline
from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.state import State

_LOADED: list[RuntimeContext] = []


def ready_context(model_dir: Path, **config: Any) -> RuntimeContext:
    """Load and warm up `model_dir` on the CPU in this process; the context is Ready. Its
    scheduler thread is stopped by `stop_schedulers` (an autouse fixture calls it after
    each test), so no thread runs torch while the interpreter exits."""
    settings = {"device": "cpu", "warmup_max_tokens": 1, **config}
    ctx = RuntimeContext(RuntimeConfig(model_dir=model_dir, **settings))
    _LOADED.append(ctx)
    pipeline.run(ctx)
    assert ctx.machine.state is State.READY, ctx.machine.snapshot().error
    return ctx


def load_on_cpu(directory: Path) -> loader.LoadedModel:
    """The runtime's loader alone (no state machine, no scheduler): `directory` on the CPU."""
    cpu = torch.device("cpu")
    checkpoint = loader.inspect(
        directory, device=cpu, dtype_choice="auto", task_choice="auto", allow_pickle=False
    )
    return loader.load_model(
        checkpoint, device=cpu, on_progress=lambda _d, _t: None, cancel=threading.Event()
    )


def stop_schedulers() -> None:
    while _LOADED:
        scheduler = _LOADED.pop().scheduler
        if scheduler is not None:
            scheduler.stop()


class CudaFaultDouble:
    """Test double for a GPU that died: every forward pass raises what torch raises then."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(self.message)


class SlowDeviceDouble:
    """Test double for a slow device: each forward pass of the real model takes `seconds`
    longer, so concurrent requests stay in the batch long enough to be observed."""

    def __init__(self, forward: Any, seconds: float) -> None:
        self.forward = forward
        self.seconds = seconds

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.seconds)
        return self.forward(*args, **kwargs)


class PassLog:
    """The scheduler's observer, recording how many requests each forward pass served."""

    def __init__(self) -> None:
        self.rows: list[int] = []

    def step(self, rows: int) -> None:
        self.rows.append(rows)

    def token(self, *, first: bool, seconds: float) -> None:
        pass
