"""kubectl apply of a ModelDeployment → Deployment, Service and a truthful status."""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, condition, get, items, wait_status
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer

pytestmark = pytest.mark.cluster


def test_children_are_created_owned_and_labelled(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess, hub: HubServer
) -> None:
    apply(cluster, helpers.model_deployment("tiny", namespace=namespace, replicas=2))
    commit = hub.repos["acme/tiny"].refs["main"]
    status = wait_status(
        cluster,
        "tiny",
        namespace,
        lambda o: o.get("status", {}).get("resolvedRevision") == commit,
        what="status.resolvedRevision",
    )["status"]
    assert status["shortRevision"] == commit[:12] and status["resolvedFrom"] == "main"
    md = get(cluster, "modeldeployment", "tiny", namespace)
    assert md is not None
    deployment = helpers.wait_for(
        lambda: get(cluster, "deployment", "tiny", namespace), bool, what="the Deployment"
    )
    service = helpers.wait_for(
        lambda: get(cluster, "service", "tiny", namespace), bool, what="the Service"
    )
    for child in (deployment, service):
        owner = child["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "ModelDeployment",
            md["metadata"]["uid"],
            True,
        )
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modeldeploy"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["serve", "--model-dir", "/model"]
    assert ["--revision", commit] == container["args"][container["args"].index("--revision") :][:2]
    assert (
        deployment["spec"]["template"]["metadata"]["labels"]["modeldeploy.io/revision"]
        == commit[:12]
    )
    assert deployment["spec"]["replicas"] == 2
    # The API server kept every status field the operator wrote (nothing pruned).
    assert {"phase", "conditions", "ready", "selector", "placement", "observedGeneration"} <= set(
        status
    )


def test_kwok_pods_are_running_but_never_reported_ready(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    """kwok marks pods Running/Ready, but no runtime answers /status: Unreachable, Ready=False."""
    apply(cluster, helpers.model_deployment("honest", namespace=namespace, replicas=2))
    helpers.wait_for(
        lambda: items(cluster, "pods", namespace, "modeldeploy.io/deployment=honest"),
        lambda pods: len(pods) == 2 and all(p["status"].get("phase") == "Running" for p in pods),
        what="two Running pods (kwok)",
    )
    obj = wait_status(
        cluster,
        "honest",
        namespace,
        # A status written before the operator saw both pods Running still says Pending.
        lambda o: (
            len(replicas := o.get("status", {}).get("replicaStatuses") or []) == 2
            and all(r["state"] != "Pending" for r in replicas)
        ),
        what="per-replica statuses of the Running pods",
    )
    status = obj["status"]
    assert {r["state"] for r in status["replicaStatuses"]} == {"Unreachable"}
    assert status["readyReplicas"] == 0 and status["ready"] == "0/2" and status["phase"] != "Ready"
    ready = condition(obj, "Ready")
    assert (
        ready is not None and ready["status"] == "False" and ready["reason"] == "RuntimeUnreachable"
    )
    assert ready["observedGeneration"] == obj["metadata"]["generation"]


def test_printer_columns_show_ready_phase_and_revision(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("cols", namespace=namespace, replicas=1))
    wait_status(
        cluster,
        "cols",
        namespace,
        lambda o: bool(o.get("status", {}).get("shortRevision")),
        what="status",
    )
    out = cluster.kubectl("get", "mdep", "cols", "-n", namespace).stdout
    header, row = out.splitlines()[:2]
    assert header.split()[:6] == ["NAME", "READY", "PHASE", "MODEL", "PROGRESS", "REVISION"]
    assert "0/1" in row.split()
