"""How much device memory one replica needs, estimated before any pod starts.

    estimated = weight_bytes(dtype) x OVERHEAD_FACTOR + FIXED_OVERHEAD

* `weight_bytes(dtype)` comes from the safetensors headers on the hub (the hub's
  `remote_weight_bytes`: element counts x bytes per element at the target dtype, read from
  the first few kilobytes of each file, nothing downloaded).
* `OVERHEAD_FACTOR` (1.2) covers what grows with the model: activations and the KV cache of
  a short warm-up and small batches, allocator fragmentation.
* `FIXED_OVERHEAD` (1 GiB) covers what does not: the CUDA context, cuBLAS/cuDNN
  workspaces and kernels loaded by torch.

It is an estimate for refusing hopeless placements early (`NoFittingGPUNode`), not a
guarantee: the runtime still reports `InsufficientGPUMemory` if loading fails.
"""

from __future__ import annotations

import math

OVERHEAD_FACTOR = 1.2
FIXED_OVERHEAD = 1 << 30
MIB = 1 << 20
GIB = 1 << 30


def estimated_gpu_memory(weight_bytes: int) -> int:
    """Bytes of device memory one replica needs in total (over all its GPUs)."""
    return math.ceil(weight_bytes * OVERHEAD_FACTOR) + FIXED_OVERHEAD


def per_gpu(total_bytes: int, *, gpus: int) -> int:
    """The share of one GPU when a replica spreads its layers over `gpus` devices."""
    return math.ceil(total_bytes / max(gpus, 1))


def to_mib(n_bytes: int) -> int:
    """Bytes as whole MiB, rounded up (the unit of the nvidia.com/gpu.memory label)."""
    return math.ceil(n_bytes / MIB)


def quantity(n_bytes: int) -> str:
    """Bytes as a Kubernetes quantity, rounded up to whole MiB (whole GiB shown as Gi)."""
    mib = to_mib(n_bytes)
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def human(n_bytes: float) -> str:
    """Bytes for people: 1.5 GiB, 320 MiB, 12 KiB."""
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", 1 << 10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{int(n_bytes)} B"
