"""GPU memory estimate: weights x overhead factor + fixed runtime overhead."""

from __future__ import annotations

from modeldeploy.operator.planners import memory

GIB = 1 << 30


def test_formula() -> None:
    assert memory.estimated_gpu_memory(10 * GIB) == 12 * GIB + memory.FIXED_OVERHEAD


def test_zero_weights_still_need_the_runtime_overhead() -> None:
    assert memory.estimated_gpu_memory(0) == memory.FIXED_OVERHEAD


def test_quantities_round_up_to_mib() -> None:
    assert memory.quantity(13 * GIB) == "13Gi"
    assert memory.quantity(GIB + 1) == "1025Mi"
    assert memory.quantity(1) == "1Mi"


def test_per_gpu_share_rounds_up() -> None:
    assert memory.per_gpu(10, gpus=3) == 4
    assert memory.per_gpu(10, gpus=0) == 10
