"""The real kube-scheduler places replicas only on allowed GPU nodes (kwok simulates the nodes)."""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, condition, items, wait_status
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def _placed(cluster: Cluster, namespace: str, name: str, count: int) -> list[str]:
    pods = helpers.wait_for(
        lambda: items(cluster, "pods", namespace, f"modeldeploy.io/deployment={name}"),
        lambda pods: len(pods) == count and all(p["spec"].get("nodeName") for p in pods),
        what=f"{count} scheduled pods of {name}",
    )
    return sorted(p["spec"]["nodeName"] for p in pods)


def test_replicas_go_to_the_first_product_in_priority_order(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    gpu = {"count": 1, "products": ["NVIDIA-A100-SXM4-40GB", "NVIDIA-H100-80GB-HBM3"]}
    apply(cluster, helpers.model_deployment("prio", namespace=namespace, replicas=2, gpu=gpu))
    assert _placed(cluster, namespace, "prio", 2) == ["kwok-a100-40gb-0", "kwok-a100-40gb-0"]
    obj = wait_status(
        cluster,
        "prio",
        namespace,
        lambda o: (condition(o, "Scheduled") or {}).get("status") == "True",
        what="Scheduled=True",
    )
    assert obj["status"]["placement"]["gpuProduct"] == "NVIDIA-A100-SXM4-40GB"


def test_min_memory_keeps_replicas_off_small_gpus(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(
        cluster,
        helpers.model_deployment(
            "big", namespace=namespace, replicas=3, gpu={"count": 1, "minMemory": "60Gi"}
        ),
    )
    assert set(_placed(cluster, namespace, "big", 3)) <= {"kwok-h100-0"}


def test_later_products_are_used_when_the_first_cannot_host_a_replica(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    gpu = {"count": 8, "products": ["NVIDIA-A100-SXM4-40GB", "NVIDIA-H100-80GB-HBM3"]}
    apply(cluster, helpers.model_deployment("wide", namespace=namespace, replicas=1, gpu=gpu))
    assert _placed(cluster, namespace, "wide", 1) == ["kwok-h100-0"]


def test_cpu_only_lands_on_a_node_without_gpu_taints(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("cpu", namespace=namespace, replicas=1))
    assert _placed(cluster, namespace, "cpu", 1) == ["kwok-cpu-0"]


def test_model_that_fits_nowhere_gets_no_fitting_gpu_node(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    """The size estimate comes from the safetensors header on the loopback hub (200 GB)."""
    gpu = {"count": 1, "products": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-40GB"]}
    apply(
        cluster,
        helpers.model_deployment("huge", namespace=namespace, model={"repo": "acme/huge"}, gpu=gpu),
    )
    obj = wait_status(
        cluster,
        "huge",
        namespace,
        lambda o: (
            condition(o, "Scheduled") is not None
            and condition(o, "Scheduled")["reason"] == "NoFittingGPUNode"
        ),
        what="NoFittingGPUNode",
    )
    message = condition(obj, "Scheduled")["message"]
    assert "kwok-h100-0 offers 8x NVIDIA-H100-80GB-HBM3 with 81559 MiB" in message
    assert "at least" in message
    assert obj["status"]["placement"]["estimatedGpuMemory"].endswith(("Gi", "Mi"))
    helpers.settle(3)
    assert items(cluster, "pods", namespace, "modeldeploy.io/deployment=huge") == []


def test_pods_that_cannot_be_placed_report_the_schedulers_reason(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    """Preflight passes (a T4 node exists) but it has one GPU: two of three pods stay Pending."""
    gpu = {"count": 1, "products": ["Tesla-T4"]}
    apply(cluster, helpers.model_deployment("t4", namespace=namespace, replicas=3, gpu=gpu))
    obj = wait_status(
        cluster, "t4", namespace,
        lambda o: (condition(o, "Scheduled") or {}).get("reason") == "Unschedulable",
        what="Scheduled=False Unschedulable",
    )  # fmt: skip
    message = condition(obj, "Scheduled")["message"]
    assert "nvidia.com/gpu" in message, message
    pending = [r for r in obj["status"]["replicaStatuses"] if r.get("reason") == "Unschedulable"]
    assert pending and all("nvidia.com/gpu" in (r.get("message") or "") for r in pending)
