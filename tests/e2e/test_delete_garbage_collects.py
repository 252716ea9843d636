"""Deleting a ModelDeployment garbage-collects its children (owner references, real GC)."""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, get, items
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def _children(cluster: Cluster, namespace: str, name: str) -> list[str]:
    found = []
    for kind in ("deployments", "services", "jobs", "pods", "persistentvolumeclaims"):
        found += [
            f"{kind}/{o['metadata']['name']}"
            for o in items(cluster, kind, namespace, f"modeldeploy.io/deployment={name}")
        ]
    return found


def test_children_go_with_their_model_deployment(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("gc", namespace=namespace, replicas=2))
    helpers.wait_for(
        lambda: _children(cluster, namespace, "gc"),
        lambda c: (
            "deployments/gc" in c
            and "services/gc" in c
            and sum(x.startswith("pods/") for x in c) == 2
        ),
        what="children",
    )
    cluster.kubectl("delete", "mdep", "gc", "-n", namespace, "--wait=true")
    helpers.wait_for(
        lambda: _children(cluster, namespace, "gc"), lambda c: c == [], what="garbage collection"
    )


def test_cache_retention_decides_the_fate_of_the_volume(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    keep = {"cache": {"size": "1Gi", "storageClassName": "e2e-none", "retention": "Retain"}}
    drop = {"cache": {"size": "1Gi", "storageClassName": "e2e-none", "retention": "Delete"}}
    apply(
        cluster,
        helpers.model_deployment("keep", namespace=namespace, **keep),
        helpers.model_deployment("drop", namespace=namespace, **drop),
    )
    for name in ("keep", "drop"):
        helpers.wait_for(
            lambda n=name: get(cluster, "pvc", f"{n}-cache", namespace), bool, what=f"{name}-cache"
        )
        helpers.wait_for(
            lambda n=name: items(cluster, "jobs", namespace, f"modeldeploy.io/deployment={n}"),
            lambda jobs: len(jobs) == 1,
            what=f"the fetch Job of {name}",
        )
    cluster.kubectl("delete", "mdep", "keep", "drop", "-n", namespace, "--wait=true")
    helpers.wait_for(
        lambda: get(cluster, "pvc", "drop-cache", namespace),
        lambda p: p is None,
        what="drop-cache deleted",
    )
    helpers.wait_for(
        lambda: items(cluster, "jobs", namespace),
        lambda jobs: jobs == [],
        what="fetch Jobs deleted",
    )
    helpers.settle(2)
    assert get(cluster, "pvc", "keep-cache", namespace) is not None
