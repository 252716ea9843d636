"""The preflight fit check: the best fitting node, or a message saying what is missing."""

from __future__ import annotations

from modeldeploy.operator.planners import placement
from tests.operator.unit.builders import node, spec

NODES = [
    node("t4", product="Tesla-T4", memory_mib=15360),
    node("a100", product="NVIDIA-A100-SXM4-80GB", memory_mib=81920),
    node("h100", product="NVIDIA-H100-80GB-HBM3", memory_mib=81559),
    node("cpu", product=None, memory_mib=None, gpus=0),
]
GIB = 1 << 30


def test_best_fit_follows_product_priority() -> None:
    the_spec = spec(
        gpu={"count": 1, "products": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"]}
    )
    fit = placement.preflight(NODES, placement.need_of(the_spec, estimated_bytes=10 * GIB))
    assert fit.fits and fit.node == "h100" and fit.product == "NVIDIA-H100-80GB-HBM3"


def test_without_products_the_node_with_most_memory_wins() -> None:
    fit = placement.preflight(NODES, placement.need_of(spec(gpu={"count": 1}), estimated_bytes=GIB))
    assert fit.node == "a100"


def test_estimate_larger_than_any_gpu_says_what_is_needed_and_best_offer() -> None:
    need = placement.need_of(spec(gpu={"count": 1}), estimated_bytes=200 * GIB)
    fit = placement.preflight(NODES, need)
    assert not fit.fits
    assert "204800 MiB" in fit.message
    assert "a100 offers 8x NVIDIA-A100-SXM4-80GB with 81920 MiB" in fit.message


def test_estimate_is_spread_over_the_gpus_of_a_replica() -> None:
    need = placement.need_of(spec(gpu={"count": 4}), estimated_bytes=200 * GIB)
    assert need.memory_mib == 51200
    assert placement.preflight(NODES, need).fits


def test_min_memory_is_a_floor_even_with_a_small_estimate() -> None:
    the_spec = spec(gpu={"count": 1, "minMemory": "90Gi"})
    fit = placement.preflight(NODES, placement.need_of(the_spec, estimated_bytes=GIB))
    assert not fit.fits and "92160 MiB" in fit.message


def test_disallowed_products_and_unschedulable_nodes_never_fit() -> None:
    nodes = [
        node("h100", product="NVIDIA-H100-80GB-HBM3", memory_mib=81559, unschedulable=True),
        node("t4", product="Tesla-T4", memory_mib=15360),
    ]
    the_spec = spec(gpu={"count": 1, "products": ["NVIDIA-H100-80GB-HBM3"]})
    assert not placement.preflight(nodes, placement.need_of(the_spec, estimated_bytes=None)).fits


def test_too_few_devices_do_not_fit() -> None:
    nodes = [node("small", product="X", memory_mib=81920, gpus=2)]
    assert not placement.preflight(
        nodes, placement.need_of(spec(gpu={"count": 4}), estimated_bytes=None)
    ).fits


def test_no_gpu_node_at_all_is_said_plainly() -> None:
    fit = placement.preflight(
        [NODES[-1]], placement.need_of(spec(gpu={"count": 1}), estimated_bytes=None)
    )
    assert "no node offers nvidia.com/gpu" in fit.message


def test_mig_profile_memory_label_is_checked() -> None:
    nodes = [
        node(
            "mig",
            product="NVIDIA-A100-SXM4-80GB",
            memory_mib=40192,
            gpus=2,
            resource="nvidia.com/mig-3g.40gb",
        )
    ]
    the_spec = spec(gpu={"count": 1, "resourceName": "nvidia.com/mig-3g.40gb"})
    assert placement.preflight(nodes, placement.need_of(the_spec, estimated_bytes=30 * GIB)).fits
    assert not placement.preflight(
        nodes, placement.need_of(the_spec, estimated_bytes=50 * GIB)
    ).fits


def test_node_selector_of_the_user_is_respected() -> None:
    the_spec = spec(gpu={"count": 1}, placement={"nodeSelector": {"pool": "inference"}})
    assert not placement.preflight(NODES, placement.need_of(the_spec, estimated_bytes=None)).fits


UNLABELLED = [node("gpu-x", product="NVIDIA-L4", memory_mib=None, gpus=8)]


def test_a_node_of_unknown_memory_may_fit_when_nothing_asks_for_memory() -> None:
    fit = placement.preflight(
        UNLABELLED, placement.need_of(spec(gpu={"count": 1}), estimated_bytes=None)
    )
    assert fit.fits and fit.node == "gpu-x" and "memory is unknown" in fit.message


def test_the_estimate_alone_never_excludes_a_node_of_unknown_memory() -> None:
    need = placement.need_of(spec(gpu={"count": 1}), estimated_bytes=200 * GIB)
    assert placement.preflight(UNLABELLED, need).fits


def test_min_memory_needs_a_node_that_shows_its_memory() -> None:
    need = placement.need_of(spec(gpu={"count": 1, "minMemory": "10Gi"}), estimated_bytes=None)
    fit = placement.preflight(UNLABELLED, need)
    assert not fit.fits and "unknown memory" in fit.message and "minMemory" in fit.message
