"""Stopping the operator mid-way and starting it again: it resumes, creating nothing twice."""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, get, items, wait_status
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def test_restart_mid_way(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("r1", namespace=namespace, replicas=2))
    helpers.wait_for(
        lambda: get(cluster, "deployment", "r1", namespace), bool, what="r1's Deployment"
    )
    first_uid = get(cluster, "deployment", "r1", namespace)["metadata"]["uid"]
    running_operator.stop(kill=True)  # no graceful shutdown
    # While it is down: a new object appears and an existing one is scaled.
    apply(cluster, helpers.model_deployment("r2", namespace=namespace, replicas=1))
    cluster.kubectl("scale", "mdep/r1", "--replicas=3", "-n", namespace)
    running_operator.start()
    helpers.wait_for(
        lambda: (get(cluster, "deployment", "r1", namespace) or {}).get("spec", {}).get("replicas"),
        lambda n: n == 3,
        what="r1 scaled after the restart",
    )
    helpers.wait_for(
        lambda: get(cluster, "deployment", "r2", namespace),
        bool,
        what="r2 created after the restart",
    )
    wait_status(
        cluster,
        "r1",
        namespace,
        lambda o: o.get("status", {}).get("replicas") == 3,
        what="r1 status",
    )
    helpers.settle(3)
    deployments = [d["metadata"]["name"] for d in items(cluster, "deployments", namespace)]
    services = [s["metadata"]["name"] for s in items(cluster, "services", namespace)]
    assert sorted(deployments) == ["r1", "r2"]
    assert sorted(services) == ["r1", "r1-wait", "r2", "r2-wait"]
    assert get(cluster, "deployment", "r1", namespace)["metadata"]["uid"] == first_uid
    replica_sets = items(cluster, "replicasets", namespace, "modeldeploy.io/deployment=r1")
    assert len(replica_sets) == 1, [rs["metadata"]["name"] for rs in replica_sets]
    assert len(items(cluster, "pods", namespace, "modeldeploy.io/deployment=r1")) == 3


def test_no_finalizers_or_kopf_annotations_are_left_on_objects(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    """Deletion never depends on the operator being up (level-based, no per-handler state)."""
    apply(cluster, helpers.model_deployment("plain", namespace=namespace))
    obj = wait_status(
        cluster,
        "plain",
        namespace,
        lambda o: bool(o.get("status", {}).get("phase")),
        what="a status",
    )
    assert not obj["metadata"].get("finalizers")
    assert not any(key.startswith("kopf.") for key in obj["metadata"].get("annotations") or {})
