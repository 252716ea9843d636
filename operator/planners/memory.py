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

The vLLM engine (`spec.runtime.engine: vllm`) budgets differently: it takes a fixed share of
each GPU, `--gpu-memory-utilization` (default 0.9), for everything it holds there, and
starts only if its shard of the weights leaves room for the KV cache of at least one
sequence. So a replica fits on a GPU of M bytes when

    weight_bytes / tp + VLLM_MIN_KV_CACHE <= utilization x M

i.e. each GPU needs `(weight_bytes / tp + VLLM_MIN_KV_CACHE) / utilization` (`vllm_per_gpu`),
tp being the tensor parallel size. The KV cache of one sequence is layers x 2 (K and V) x
KV heads x head dim x bytes per element x max-model-len: the operator reads no config.json
(only the safetensors headers), so it takes a floor instead, `VLLM_MIN_KV_CACHE` (1 GiB:
one 8k-token sequence of a Llama-3-8B-class model at 16 bit). Like the builtin estimate it
refuses only hopeless placements; the runtime reports `EngineOutOfMemory` when vLLM finds
less room than that.
"""

from __future__ import annotations

import math

OVERHEAD_FACTOR = 1.2
FIXED_OVERHEAD = 1 << 30
MIB = 1 << 20
GIB = 1 << 30
VLLM_GPU_MEMORY_UTILIZATION = 0.9
"""vLLM's default `--gpu-memory-utilization`: its share of each GPU."""
VLLM_MIN_KV_CACHE = GIB
"""The KV cache one vLLM replica needs at least, per GPU (see the module's text)."""


def estimated_gpu_memory(weight_bytes: int) -> int:
    """Bytes of device memory one replica needs in total (over all its GPUs)."""
    return math.ceil(weight_bytes * OVERHEAD_FACTOR) + FIXED_OVERHEAD


def vllm_per_gpu(weight_bytes: int, *, tensor_parallel: int, utilization: float) -> int:
    """Bytes each GPU must have for vLLM: its weight shard and the minimal KV cache fit in
    the `utilization` share."""
    used = math.ceil(weight_bytes / max(tensor_parallel, 1)) + VLLM_MIN_KV_CACHE
    return math.ceil(used / utilization)


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
