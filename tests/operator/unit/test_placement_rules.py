"""GPU placement rules of a runtime pod: resources, affinity, tolerations, user placement."""

from __future__ import annotations

from modeldeploy.operator.planners import placement, workload
from tests.operator.unit.builders import spec


def _required(pod_placement: dict) -> list[dict]:
    terms = pod_placement["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    return terms["nodeSelectorTerms"]


def test_gpus_are_limits_with_equal_requests() -> None:
    resources = workload.container_resources(
        spec(gpu={"count": 2}, resources={"requests": {"cpu": "2"}})
    )
    assert resources["limits"] == {"nvidia.com/gpu": "2"}
    assert resources["requests"] == {"cpu": "2", "nvidia.com/gpu": "2"}


def test_products_and_min_memory_become_required_affinity() -> None:
    got = placement.pod_placement(
        spec(gpu={"count": 1, "products": ["H100", "A100"], "minMemory": "40Gi"})
    )
    expressions = _required(got)[0]["matchExpressions"]
    assert {
        "key": "nvidia.com/gpu.product",
        "operator": "In",
        "values": ["H100", "A100"],
    } in expressions
    assert {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["40959"]} in expressions


def test_preferred_weights_follow_product_priority() -> None:
    got = placement.pod_placement(spec(gpu={"count": 1, "products": ["H100", "A100", "L40S"]}))
    preferred = got["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    weights = {p["preference"]["matchExpressions"][0]["values"][0]: p["weight"] for p in preferred}
    assert weights["H100"] > weights["A100"] > weights["L40S"] > 0
    assert max(weights.values()) <= 100


def test_gpu_pods_tolerate_the_gpu_taint() -> None:
    got = placement.pod_placement(spec(gpu={"count": 1}))
    assert {"key": "nvidia.com/gpu", "operator": "Exists"} in got["tolerations"]


def test_cpu_only_asks_for_nothing_gpu_ish() -> None:
    cpu = spec(resources={"requests": {"cpu": "1"}})
    assert placement.pod_placement(cpu) == {}
    resources = workload.container_resources(cpu)
    assert all(
        "nvidia" not in key
        for key in {**resources.get("requests", {}), **resources.get("limits", {})}
    )


def test_user_placement_is_merged_and_anded_into_every_term() -> None:
    user_affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                ]
            }
        },
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
    }
    got = placement.pod_placement(
        spec(
            gpu={"count": 1, "products": ["H100"]},
            placement={
                "nodeSelector": {"pool": "gpu"},
                "affinity": user_affinity,
                "tolerations": [{"key": "dedicated", "operator": "Exists"}],
            },
        )
    )
    assert got["nodeSelector"] == {"pool": "gpu"}
    assert "podAntiAffinity" in got["affinity"]
    for term in _required(got):
        keys = [e["key"] for e in term["matchExpressions"]]
        assert keys == ["zone", "nvidia.com/gpu.product"]
    assert {"key": "dedicated", "operator": "Exists"} in got["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists"} in got["tolerations"]


def test_user_affinity_in_the_spec_is_not_mutated() -> None:
    the_spec = spec(
        gpu={"count": 1, "products": ["H100"]}, placement={"affinity": {"nodeAffinity": {}}}
    )
    placement.pod_placement(the_spec)
    placement.pod_placement(the_spec)
    assert the_spec.placement.affinity == {"nodeAffinity": {}}


def test_mig_resource_uses_its_own_memory_label() -> None:
    the_spec = spec(gpu={"count": 1, "resourceName": "nvidia.com/mig-3g.40gb", "minMemory": "20Gi"})
    assert workload.container_resources(the_spec)["limits"] == {"nvidia.com/mig-3g.40gb": "1"}
    expressions = _required(placement.pod_placement(the_spec))[0]["matchExpressions"]
    assert expressions == [
        {"key": "nvidia.com/mig-3g.40gb.memory", "operator": "Gt", "values": ["20479"]}
    ]
