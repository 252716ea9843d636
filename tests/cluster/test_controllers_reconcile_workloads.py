"""The real kube-controller-manager reconciles workloads; kwok stands in for the kubelets.

Pods never run containers: kwok marks them Running/Ready (or Succeeded for Job pods) by its
stages. What is real: Deployment -> ReplicaSet -> Pods, the Job controller, garbage collection.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cluster import Cluster
from tests.support.cluster.polling import eventually

pytestmark = pytest.mark.cluster

NEVER_PULLED = "registry.invalid/never-pulled:0"
LABELS = {"app": "web"}


def _deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": LABELS},
                 "template": {"metadata": {"labels": LABELS}, "spec": {
                     "containers": [{"name": "web", "image": NEVER_PULLED}]}}},
    }  # fmt: skip


def _items(cluster: Cluster, kind: str, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.kubectl_json("get", kind, "-n", namespace)["items"]
    return items


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions", []))  # fmt: skip


def test_deployment_creates_replicaset_and_pods_that_kwok_reports_ready(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(_deployment(2)))
    deployment = eventually(
        lambda: cluster.kubectl_json("get", "deployment", "web", "-n", namespace),
        lambda d: d.get("status", {}).get("availableReplicas") == 2,
        what="2 available replicas",
    )
    (replicaset,) = _items(cluster, "replicasets", namespace)
    (owner,) = replicaset["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("Deployment", deployment["metadata"]["uid"])
    pods = _items(cluster, "pods", namespace)
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["ownerReferences"][0]["uid"] == replicaset["metadata"]["uid"]
        assert pod["status"]["phase"] == "Running" and _ready(pod)


def test_deleting_the_owner_garbage_collects_its_dependents(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(_deployment(1)))
    eventually(lambda: _items(cluster, "pods", namespace), lambda p: len(p) == 1,
               what="the pod")  # fmt: skip
    cluster.kubectl("delete", "deployment", "web", "-n", namespace, "--cascade=background")
    eventually(
        lambda: (_items(cluster, "replicasets", namespace), _items(cluster, "pods", namespace)),
        lambda seen: seen == ([], []),
        what="the garbage collector to remove the ReplicaSet and its pod",
    )


def test_configmap_owned_by_another_is_garbage_collected_with_it(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = cluster.kubectl_json("get", "configmap", "owner", "-n", namespace)["metadata"]["uid"]
    dependent = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "dependent", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]},
    }  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(dependent))
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    eventually(
        lambda: [c["metadata"]["name"] for c in _items(cluster, "configmaps", namespace)],
        lambda names: "dependent" not in names,
        what="the dependent ConfigMap to be collected",
    )


def test_job_completes_when_kwok_reports_its_pod_succeeded(
    cluster: Cluster, namespace: str
) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": NEVER_PULLED}]}}},
    }  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(job))
    done = eventually(
        lambda: cluster.kubectl_json("get", "job", "once", "-n", namespace),
        lambda j: j.get("status", {}).get("succeeded") == 1,
        what="the Job to succeed",
    )
    conditions = {c["type"]: c["status"] for c in done["status"].get("conditions", [])}
    assert conditions.get("Complete") == "True"
