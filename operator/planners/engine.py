"""The serving engine of a ModelDeployment: its image, its `serve` flags, its GPU memory need.

`spec.runtime.engine` picks what runs inside `modeldeploy serve`: the builtin engine, or vLLM
behind the same states, probes and warm-up. Each engine has its own images (settings: the
builtin runtime image; vLLM's CUDA build for pods with GPUs and its CPU build for pods
without); `spec.runtime.image` overrides them all.

For vLLM the container gets `--engine vllm` and one `--engine-arg=ARG` per argument, as
`modeldeploy.engine_args` normalised it; with more than one GPU per replica, the tensor
parallel size defaults to the GPU count (one model across the replica's GPUs).
"""

from __future__ import annotations

from modeldeploy import engine_args
from modeldeploy.operator.api.spec import Engine, ModelDeploymentSpec
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import memory

TENSOR_PARALLEL_SIZE = "--tensor-parallel-size"


def serving_image(spec: ModelDeploymentSpec, settings: Settings) -> str:
    """The runtime container's image: the spec's own, else the engine's (CPU or CUDA)."""
    if spec.runtime.image:
        return spec.runtime.image
    if spec.runtime.engine is Engine.VLLM:
        return settings.vllm_image if spec.gpu.count > 0 else settings.vllm_cpu_image
    return settings.runtime_image


def vllm_args(spec: ModelDeploymentSpec) -> engine_args.EngineArgs:
    """The vLLM arguments a replica runs with: the spec's, checked, plus the defaults.

    The spec was validated (InvalidEngineArgs otherwise), so parsing cannot fail here.
    """
    args = engine_args.parse(spec.runtime.engine_args)
    if spec.gpu.count > 1:
        args = args.with_default(TENSOR_PARALLEL_SIZE, str(spec.gpu.count))
    return args


def serve_flags(spec: ModelDeploymentSpec) -> list[str]:
    """`modeldeploy serve` flags choosing the engine (none for builtin: its default)."""
    if spec.runtime.engine is not Engine.VLLM:
        return []
    return ["--engine", Engine.VLLM.value, *(f"--engine-arg={a}" for a in vllm_args(spec).argv)]


def weight_shards(spec: ModelDeploymentSpec) -> int:
    """Devices one replica's weights are spread over: vLLM's tensor parallel size, else the
    replica's GPUs (the builtin engine spreads layers over all of them)."""
    if spec.runtime.engine is Engine.VLLM:
        return vllm_args(spec).tensor_parallel_size or 1
    return max(spec.gpu.count, 1)


def estimated_gpu_memory(spec: ModelDeploymentSpec, weight_bytes: int) -> int:
    """Bytes of GPU memory one replica needs over its `weight_shards` devices."""
    if spec.runtime.engine is not Engine.VLLM:
        return memory.estimated_gpu_memory(weight_bytes)
    args = vllm_args(spec)
    shards = args.tensor_parallel_size or 1
    per_gpu = memory.vllm_per_gpu(
        weight_bytes,
        tensor_parallel=shards,
        utilization=args.gpu_memory_utilization or memory.VLLM_GPU_MEMORY_UTILIZATION,
    )
    return per_gpu * shards
