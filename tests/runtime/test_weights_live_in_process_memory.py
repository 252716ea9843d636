"""Served weights live in the runtime's own memory, not on a map of the cache file.

Once a model is loaded, changing its file on disk in place (same inode: a failing disk, a
copy over the model, another pod repairing the directory) changes neither the weights nor
what the model generates, and no mapping of the file is left in the process.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

from modeldeploy.runtime.engine import Engine, SamplingParams
from tests.runtime import servers
from tests.runtime.inprocess import load_on_cpu
from tests.support import tinymodels

PROMPT = "hello world"


def overwrite_tensor_data(path: Path) -> None:
    """Every tensor byte becomes 0xFF (NaN in float32), in place: same file, same inode."""
    inode = path.stat().st_ino
    with path.open("r+b") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
        for name, entry in header.items():
            if name != "__metadata__":
                start, end = entry["data_offsets"]
                handle.seek(8 + length + start)
                handle.write(b"\xff" * (end - start))
    assert path.stat().st_ino == inode


def mappings_of(path: Path, pid: int | str = "self") -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [line for line in maps.splitlines() if line.endswith(str(path))]


def held(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor the model holds, by name, as plain dense copies (weights packed for the
    CPU are buffers in oneDNN's layout: see runtime/packing.py)."""
    named = [*model.named_parameters(), *model.named_buffers()]
    return {name: (t.to_dense() if t.is_mkldnn else t).clone() for name, t in named}


def greedy(engine: Engine) -> list[int]:
    params = SamplingParams(max_tokens=12, temperature=0.0, ignore_eos=True)
    return list(engine.generate(engine.encode_prompt(PROMPT), params))


def test_overwriting_the_file_changes_nothing_loaded(tiny_lm: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    directory = tinymodels.copy_model(tiny_lm, tmp_path / "model")
    weights = directory / "model.safetensors"
    engine = Engine(load_on_cpu(directory))
    assert mappings_of(weights) == []
    before = held(engine.loaded.model)
    generated = greedy(engine)

    with safe_open(str(weights), framework="pt", device="cpu") as handle:
        name = next(iter(handle.keys()))
        mapped = handle.get_tensor(name)  # control: a tensor on a map of the file
    assert torch.equal(mapped, before[name])
    overwrite_tensor_data(weights)
    assert mapped.isnan().all(), "the write did not reach memory that maps the file"
    del mapped

    after = held(engine.loaded.model)
    changed = [name for name, t in before.items() if not torch.equal(after[name], t)]
    assert changed == []
    assert greedy(engine) == generated


def test_a_serving_replica_ignores_a_changed_file(tiny_lm: Path, tmp_path: Path) -> None:
    directory = tinymodels.copy_model(tiny_lm, tmp_path / "model")
    weights = directory / "model.safetensors"
    serve = servers.start(directory, tmp_path, "--device", "cpu")
    body = {"prompt": PROMPT, "temperature": 0, "max_tokens": 12, "ignore_eos": True}
    try:
        serve.wait_state("Ready")
        assert mappings_of(weights, serve.process.pid) == []
        first = serve.post("/v1/completions", body)
        assert first.status == 200, first.body
        overwrite_tensor_data(weights)
        second = serve.post("/v1/completions", body)
        assert second.status == 200, second.body
        assert second.json()["choices"] == first.json()["choices"]
        assert serve.get("/readyz").status == 200
    finally:
        serve.stop()
