"""Device and dtype choice, and the GPU memory estimate made from safetensors headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from modeldeploy.runtime import loader, memory, pipeline
from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.errors import LoadError
from modeldeploy.runtime.state import State

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def param_count(model_dir: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as handle:
        shapes = [handle.get_slice(name).get_shape() for name in handle.keys()]  # noqa: SIM118
    return sum(int(torch.Size(shape).numel()) for shape in shapes)


def test_estimate_follows_the_target_dtype(tiny_lm: Path) -> None:
    headers = loader.read_headers([tiny_lm / "model.safetensors"])
    count = param_count(tiny_lm)
    assert memory.weight_bytes(headers, dtype=torch.float32) == 4 * count
    assert memory.weight_bytes(headers, dtype=torch.bfloat16) == 2 * count
    estimate = memory.check(headers, device=torch.device("cpu"), dtype=torch.float16)
    assert estimate.free_bytes is None
    assert estimate.required_bytes == memory.required_bytes(2 * count) > 2 * count


def test_auto_dtype_keeps_the_checkpoint_but_not_float16_on_cpu() -> None:
    class Config:
        dtype = "float16"

    assert loader.choose_dtype("auto", device=torch.device("cpu"), config=Config()) is torch.float32
    assert (
        loader.choose_dtype("auto", device=torch.device("cuda"), config=Config()) is torch.float16
    )
    assert (
        loader.choose_dtype("bfloat16", device=torch.device("cpu"), config=Config())
        is torch.bfloat16
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_asking_for_cuda_without_one_fails_with_a_reason(tiny_lm: Path) -> None:
    assert loader.choose_device("auto").type == "cpu"
    ctx = RuntimeContext(RuntimeConfig(model_dir=tiny_lm, device="cuda"))
    pipeline.run(ctx)
    snap = ctx.machine.snapshot()
    assert snap.state is State.FAILED and snap.error is not None
    assert snap.error.reason == "DeviceUnavailable"


@needs_cuda
def test_model_too_big_for_the_gpu_fails_before_loading(tmp_path: Path) -> None:
    """A sparse file whose header claims more weights than the GPU has free."""
    import json
    import struct

    free, _ = torch.cuda.mem_get_info()
    count = free // 2 + 2**28  # bf16 elements: more bytes than free memory
    header = json.dumps({"w": {"dtype": "BF16", "shape": [count], "data_offsets": [0, count * 2]}})
    path = tmp_path / "model.safetensors"
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header.encode())
        handle.truncate(8 + len(header) + count * 2)
    with pytest.raises(LoadError) as caught:
        memory.check(loader.read_headers([path]), device=torch.device("cuda"), dtype=torch.bfloat16)
    assert caught.value.reason == "InsufficientGPUMemory"
    needed = memory.required_bytes(count * 2)
    assert re.search(rf"required {needed} bytes, free \d+ bytes", caught.value.message)


@needs_cuda
def test_cuda_load_serves_and_frees_memory(tiny_lm: Path) -> None:
    ctx = RuntimeContext(RuntimeConfig(model_dir=tiny_lm, device="auto", warmup_max_tokens=2))
    before = torch.cuda.memory_allocated()
    pipeline.run(ctx)
    assert ctx.machine.state is State.READY
    assert ctx.info.device is not None and ctx.info.device.startswith("cuda")
    assert torch.cuda.memory_allocated() > before
    assert ctx.engine is not None
    ctx.engine.loaded.release()
    ctx.engine = None
    assert torch.cuda.memory_allocated() <= before + 2**20


def test_loading_converts_dtype_and_counts_stored_bytes(tiny_lm: Path) -> None:
    import threading

    reports: list[tuple[int, int]] = []
    cpu = torch.device("cpu")
    checkpoint = loader.inspect(
        tiny_lm, device=cpu, dtype_choice="bfloat16", task_choice="auto", allow_pickle=False
    )
    loaded = loader.load_model(
        checkpoint,
        device=cpu,
        on_progress=lambda done, total: reports.append((done, total)),
        cancel=threading.Event(),
    )
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    done = [d for d, _ in reports]
    assert done == sorted(done) and len(reports) > 10
    assert reports[-1] == (4 * param_count(tiny_lm), 4 * param_count(tiny_lm))
    assert loaded.bytes_loaded == 4 * param_count(tiny_lm)


def test_cancel_stops_loading_before_the_next_tensor(tiny_lm: Path) -> None:
    import threading

    from modeldeploy.runtime.errors import LoadCancelledError

    cancel, reports, cpu = threading.Event(), [], torch.device("cpu")

    def on_progress(done: int, total: int) -> None:
        reports.append(done)
        cancel.set()  # as SIGTERM would, right after the first tensor

    with pytest.raises(LoadCancelledError):
        loader.load_model(
            loader.inspect(
                tiny_lm, device=cpu, dtype_choice="auto", task_choice="auto", allow_pickle=False
            ),
            device=cpu,
            on_progress=on_progress,
            cancel=cancel,
        )
    assert len(reports) == 1
