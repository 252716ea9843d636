"""NoFittingGPUNode compares the need with the nodes the constraints allow, and says which
constraint every other node fails (seen by a new user: the message named a node of another
product that has the 8 GPUs asked, so it did not say why nothing fits)."""

from __future__ import annotations

from modeldeploy.operator.planners import placement
from tests.operator.unit.builders import node, spec

GIB = 1 << 30


def _no_fit(nodes: list[dict], **gpu: object) -> str:
    need = placement.need_of(spec(gpu=gpu), estimated_bytes=8 * GIB)
    fit = placement.preflight(nodes, need)
    assert not fit.fits
    return fit.message


def test_the_allowed_product_is_compared_and_the_other_product_is_named_as_not_allowed() -> None:
    message = _no_fit(
        [
            node("b-node", product="NVIDIA-B", memory_mib=81920, gpus=8),
            node("a-node", product="NVIDIA-A", memory_mib=81920, gpus=4),
        ],
        count=8,
        products=["NVIDIA-A"],
    )
    assert "a-node offers 4x NVIDIA-A with 81920 MiB: has 4 of the 8 nvidia.com/gpu asked" in (
        message
    )
    assert "b-node offers 8x NVIDIA-B with 81920 MiB: NVIDIA-B is not an allowed product" in (
        message
    )
    assert message.index("a-node") < message.index("b-node")  # the allowed node first


def test_the_memory_floor_and_the_count_are_each_named() -> None:
    message = _no_fit(
        [
            node("small", product="NVIDIA-A", memory_mib=40960, gpus=8),
            node("few", product="NVIDIA-A", memory_mib=81920, gpus=1),
        ],
        count=2,
        minMemory="80Gi",
    )
    assert "small offers 8x NVIDIA-A with 40960 MiB: has 40960 MiB per device of the 81920" in (
        message
    )
    assert "few offers 1x NVIDIA-A with 81920 MiB: has 1 of the 2 nvidia.com/gpu asked" in message


def test_alike_nodes_are_named_together_and_the_rest_counted() -> None:
    nodes = [node(f"b{i}", product="NVIDIA-B", memory_mib=81920) for i in range(6)]
    nodes += [node("cordoned", product="NVIDIA-A", memory_mib=81920, unschedulable=True)]
    message = _no_fit(nodes, count=1, products=["NVIDIA-A"])
    assert "cordoned offers 8x NVIDIA-A with 81920 MiB: cordoned (unschedulable)" in message
    assert "b0, b1, b2 and 3 more each offer 8x NVIDIA-B with 81920 MiB: NVIDIA-B is not an" in (
        message
    )
    many = [node(f"n{i}", product=f"P{i}", memory_mib=1024) for i in range(6)]
    assert "2 more nodes fail as well" in _no_fit(many, count=1, products=["NVIDIA-A"])
