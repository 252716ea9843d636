"""The real kube-scheduler fits GPU pods onto the simulated nodes; kwok then reports them Running.

No container runs: kwok only writes the pod status a kubelet would. What is real here is the
scheduler's filtering (resources, node affinity, taints and tolerations) and binding.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cluster import Cluster
from tests.support.cluster.polling import eventually

pytestmark = pytest.mark.cluster

NEVER_PULLED = "registry.invalid/never-pulled:0"  # kwok runs no containers, so pulls no images
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _gpu_pod(name: str, *, resource: str, count: int, products: list[str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": NEVER_PULLED,
                        "resources": {"limits": {resource: str(count)}}}],
        "tolerations": [GPU_TOLERATION],
    }  # fmt: skip
    if products:
        term = {"key": "nvidia.com/gpu.product", "operator": "In", "values": products}
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [term]}]}}}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _create(cluster: Cluster, namespace: str, pod: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(pod))


def _pod(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = cluster.kubectl_json("get", "pod", name, "-n", namespace)
    return pod


def _running(pod: dict[str, Any]) -> bool:
    return bool(pod["status"].get("phase") == "Running")


@pytest.mark.parametrize(
    ("product", "node"),
    [
        ("NVIDIA-H100-80GB-HBM3", "kwok-h100-0"),
        ("NVIDIA-A100-SXM4-40GB", "kwok-a100-40gb-0"),
        ("Tesla-T4", "kwok-t4-0"),
    ],
)
def test_gpu_pod_with_product_affinity_lands_on_that_product_and_kwok_marks_it_running(
    cluster: Cluster, namespace: str, product: str, node: str
) -> None:
    _create(cluster, namespace, _gpu_pod("gpu", resource="nvidia.com/gpu", count=1,
                                         products=[product]))  # fmt: skip
    pod = eventually(lambda: _pod(cluster, namespace, "gpu"), _running, what="pod Running")
    assert pod["spec"]["nodeName"] == node


def test_mig_slice_request_lands_on_the_mig_node(cluster: Cluster, namespace: str) -> None:
    _create(cluster, namespace, _gpu_pod("mig", resource="nvidia.com/mig-3g.40gb", count=1,
                                         products=None))  # fmt: skip
    pod = eventually(lambda: _pod(cluster, namespace, "mig"), _running, what="pod Running")
    assert pod["spec"]["nodeName"] == "kwok-a100-mig-0"


def test_pod_asking_more_gpus_than_any_node_has_stays_pending_with_the_schedulers_reason(
    cluster: Cluster, namespace: str
) -> None:
    _create(cluster, namespace, _gpu_pod("greedy", resource="nvidia.com/gpu", count=16,
                                         products=None))  # fmt: skip

    def scheduled_condition(pod: dict[str, Any]) -> dict[str, Any] | None:
        found = [c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"]
        return found[0] if found else None

    pod = eventually(lambda: _pod(cluster, namespace, "greedy"),
                     lambda p: scheduled_condition(p) is not None,
                     what="the scheduler's verdict")  # fmt: skip
    condition = scheduled_condition(pod)
    assert condition is not None
    assert condition["status"] == "False"
    assert condition["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in condition["message"]
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")


def test_pod_without_toleration_never_lands_on_a_tainted_gpu_node(
    cluster: Cluster, namespace: str
) -> None:
    pod = _gpu_pod("plain", resource="cpu", count=1, products=None)
    del pod["spec"]["tolerations"]
    _create(cluster, namespace, pod)
    placed = eventually(lambda: _pod(cluster, namespace, "plain"), _running, what="pod Running")
    assert placed["spec"]["nodeName"] == "kwok-cpu-0"
