"""GPU memory check before loading: fail fast instead of an out-of-memory crash halfway.

The need is estimated from the safetensors headers alone (shapes and dtypes, no weights
read) at the *target* dtype: floating tensors take the target's element size, integer ones
keep theirs. On top comes a headroom for the CUDA context, activations and the KV cache.
If the device has less free memory than that, the runtime fails with
`InsufficientGPUMemory` and both numbers, before touching a weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modeldeploy.hub import safetensors_header
from modeldeploy.runtime.errors import LoadError
from modeldeploy.runtime.state import Reason

# Fixed headroom (CUDA context, allocator slack) plus a share of the weights (activations,
# KV cache for short requests). Deliberately modest: the goal is catching models that cannot
# possibly fit, not predicting peak use exactly.
HEADROOM_BYTES = 512 * 2**20
HEADROOM_FRACTION = 0.10


@dataclass(frozen=True)
class Estimate:
    weight_bytes: int
    required_bytes: int
    free_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "weightBytes": self.weight_bytes,
            "requiredBytes": self.required_bytes,
            "freeBytes": self.free_bytes,
        }


def weight_bytes(headers: Mapping[Path, dict[str, Any]], *, dtype: torch.dtype) -> int:
    """Bytes the weights take once converted to `dtype`, from the parsed headers alone."""
    target = str(dtype).removeprefix("torch.")
    return sum(safetensors_header.tensor_bytes(h, dtype=target) for h in headers.values())


def required_bytes(weights: int) -> int:
    return weights + int(weights * HEADROOM_FRACTION) + HEADROOM_BYTES


def check(
    headers: Mapping[Path, dict[str, Any]], *, device: torch.device, dtype: torch.dtype
) -> Estimate:
    """Estimate the need; on CUDA compare with free memory and raise InsufficientGPUMemory.

    `headers` maps each safetensors file to its header, parsed once per start by the loader.
    """
    weights = weight_bytes(headers, dtype=dtype)
    need = required_bytes(weights)
    if device.type != "cuda":
        return Estimate(weight_bytes=weights, required_bytes=need, free_bytes=None)
    free, _total = torch.cuda.mem_get_info(device)
    if need > free:
        raise LoadError(
            Reason.INSUFFICIENT_GPU_MEMORY,
            f"{_folder(headers)}: needs ~{_gib(need)} GiB on {device} ({_gib(weights)} GiB of "
            f"weights at {str(dtype).removeprefix('torch.')} + headroom) but only "
            f"{_gib(free)} GiB is free (required {need} bytes, free {free} bytes)",
        )
    return Estimate(weight_bytes=weights, required_bytes=need, free_bytes=int(free))


def _folder(headers: Mapping[Path, Any]) -> str:
    return str(next(iter(headers)).parent) if headers else "the model"


def _gib(count: int) -> str:
    return f"{count / 2**30:.2f}"
