"""kubectl scale works through the scale subresource; suspend scales to zero and keeps the cache."""

from __future__ import annotations

import json

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, get, wait_status
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def _deployment_replicas(cluster: Cluster, namespace: str, name: str, want: int) -> None:
    helpers.wait_for(
        lambda: (get(cluster, "deployment", name, namespace) or {}).get("spec", {}).get("replicas"),
        lambda n: n == want,
        what=f"Deployment replicas {want}",
    )


def test_kubectl_scale(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("sc", namespace=namespace, replicas=1))
    _deployment_replicas(cluster, namespace, "sc", 1)
    cluster.kubectl("scale", "mdep/sc", "--replicas=3", "-n", namespace)
    _deployment_replicas(cluster, namespace, "sc", 3)
    wait_status(
        cluster,
        "sc",
        namespace,
        lambda o: (
            o.get("status", {}).get("replicas") == 3 and o.get("status", {}).get("ready") == "0/3"
        ),
        what="status.replicas 3",
    )
    raw = cluster.kubectl(
        "get",
        "--raw",
        f"/apis/modeldeploy.io/v1alpha1/namespaces/{namespace}/modeldeployments/sc/scale",
    )
    scale = json.loads(raw.stdout)
    assert scale["spec"]["replicas"] == 3 and scale["status"]["replicas"] == 3
    assert "modeldeploy.io/deployment=sc" in scale["status"]["selector"]


def test_suspend_scales_to_zero_and_keeps_the_cache(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    spec = {"replicas": 2, "cache": {"size": "1Gi", "storageClassName": "e2e-none"}}
    apply(cluster, helpers.model_deployment("sus", namespace=namespace, **spec))
    helpers.wait_for(
        lambda: get(cluster, "pvc", "sus-cache", namespace), bool, what="the cache PVC"
    )
    apply(cluster, helpers.model_deployment("sus", namespace=namespace, suspend=True, **spec))
    obj = wait_status(
        cluster,
        "sus",
        namespace,
        lambda o: o.get("status", {}).get("phase") == "Suspended",
        what="Suspended",
    )
    assert (helpers.condition(obj, "Ready") or {}).get("reason") == "Suspended"
    assert get(cluster, "pvc", "sus-cache", namespace) is not None
    deployment = get(cluster, "deployment", "sus", namespace)
    assert deployment is None or deployment["spec"]["replicas"] == 0
