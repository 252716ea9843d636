"""The GPU preflight for vLLM: each GPU must hold its weight shard plus a minimal KV cache
within the `--gpu-memory-utilization` share (default 0.9). The builtin formula is unchanged."""

from __future__ import annotations

import math
from typing import Any

from modeldeploy.operator.api.spec import ModelDeploymentSpec
from modeldeploy.operator.planners import engine, memory, placement
from tests.operator.unit.builders import node, spec

GIB = 1 << 30
MIB = 1 << 20
L4 = node("l4", product="NVIDIA-L4", memory_mib=23034)
T4 = node("t4", product="Tesla-T4", memory_mib=15360)


def vllm(gpus: int, *args: str) -> ModelDeploymentSpec:
    return spec(gpu={"count": gpus}, runtime={"engine": "vllm", "engineArgs": list(args)})


def need_mib(the_spec: ModelDeploymentSpec, weight_bytes: int) -> int:
    estimate = engine.estimated_gpu_memory(the_spec, weight_bytes)
    return placement.need_of(the_spec, estimated_bytes=estimate).memory_mib


def test_one_gpu_needs_weights_and_minimal_kv_cache_over_the_utilization() -> None:
    # The worked example of docs/operator.md: 15 GiB of weights, (15 + 1) GiB / 0.9.
    assert memory.VLLM_MIN_KV_CACHE == GIB
    assert need_mib(vllm(1), 15 * GIB) == math.ceil(math.ceil(16 * GIB / 0.9) / MIB) == 18205


def test_weights_are_divided_over_the_tensor_parallel_gpus() -> None:
    # 140 GiB over 4 GPUs (tensor parallel size = the GPU count): (35 + 1) GiB / 0.9 = 40 GiB.
    assert need_mib(vllm(4), 140 * GIB) == 40 * 1024


def test_a_smaller_tensor_parallel_size_puts_more_weights_on_each_gpu() -> None:
    # 2 of the 4 GPUs share the weights: (70 + 1) GiB / 0.9 each.
    expected = math.ceil(math.ceil(71 * GIB / 0.9) / MIB)
    assert need_mib(vllm(4, "--tensor-parallel-size=2"), 140 * GIB) == expected


def test_a_lower_utilization_needs_a_larger_gpu() -> None:
    assert need_mib(vllm(1, "--gpu-memory-utilization=0.5"), 15 * GIB) == 32 * 1024


def test_the_estimate_is_the_total_over_the_gpus_that_share_the_weights() -> None:
    per_gpu = memory.vllm_per_gpu(140 * GIB, tensor_parallel=4, utilization=0.9)
    assert engine.estimated_gpu_memory(vllm(4), 140 * GIB) == 4 * per_gpu


def test_builtin_keeps_its_formula() -> None:
    the_spec = spec(gpu={"count": 2})
    assert engine.estimated_gpu_memory(the_spec, 10 * GIB) == memory.estimated_gpu_memory(10 * GIB)
    assert need_mib(the_spec, 10 * GIB) == math.ceil((12 * GIB + GIB) / 2 / MIB)


def test_preflight_places_vllm_where_its_share_holds_the_model() -> None:
    nodes: list[dict[str, Any]] = [T4, L4]
    the_spec = vllm(1)
    fit = placement.preflight(
        nodes,
        placement.need_of(
            the_spec, estimated_bytes=engine.estimated_gpu_memory(the_spec, 15 * GIB)
        ),
    )
    assert fit.fits and fit.node == "l4"
    too_big = engine.estimated_gpu_memory(the_spec, 20 * GIB)  # (20 + 1) / 0.9 > 23034 MiB
    fit = placement.preflight(nodes, placement.need_of(the_spec, estimated_bytes=too_big))
    assert not fit.fits and "23894 MiB" in fit.message
