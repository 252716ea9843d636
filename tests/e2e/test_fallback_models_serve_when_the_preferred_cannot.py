"""Fallback models against the real control plane: the preferred model cannot serve, a
fallback does, the status says which and why, and the preferred one comes back.

kwok runs no container: the runtimes' /status answers come from stand-ins on each pod's own
address (tests/support/standin_runtimes.py), so the operator judges real pods, placed by the
real scheduler, through its real /status client.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, condition, items, wait_status
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer, safetensors_bytes
from tests.support.standin_runtimes import PodRuntimes

pytestmark = pytest.mark.cluster

SMALL = {"config.json": b"{}", "model.safetensors": safetensors_bytes({"w": ("F32", (64, 64))})}


def _active(obj: dict[str, Any]) -> int | None:
    active = (obj.get("status") or {}).get("activeModel") or {}
    return active.get("index") if active else None


def _events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = cluster.kubectl_json(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )
    return list(listed["items"])


def test_a_preferred_repo_that_does_not_exist_is_served_by_the_fallback(
    cluster: Cluster, namespace: str, hub: HubServer, running_operator: helpers.OperatorProcess
) -> None:
    commit = hub.add_repo("acme/fallback-small", SMALL)
    manifest = helpers.model_deployment(
        "fb-missing",
        namespace=namespace,
        model={"repo": "acme/does-not-exist"},
        fallbacks=[{"repo": "acme/fallback-small"}],
    )
    with PodRuntimes(cluster, namespace):
        apply(cluster, manifest)
        obj = wait_status(
            cluster,
            "fb-missing",
            namespace,
            lambda o: _active(o) == 1 and o["status"].get("phase") == "Ready",
            what="the fallback serving",
        )
    status = obj["status"]
    assert status["activeModel"]["repo"] == "acme/fallback-small"
    assert status["activeModel"]["commit"] == commit
    assert status["activeModel"]["reason"].startswith("acme/does-not-exist: RepoNotFound")
    assert status["resolvedRevision"] == commit  # the top level describes the active model
    states = [(c["index"], c["state"], c.get("reason")) for c in status["candidates"]]
    assert states == [(0, "Unavailable", "RepoNotFound"), (1, "Active", None)]
    fallback_active = condition(obj, "FallbackActive")
    assert fallback_active is not None and fallback_active["status"] == "True"
    assert fallback_active["reason"] == "RepoNotFound"
    deployment = helpers.get(cluster, "deployment", "fb-missing", namespace)
    assert deployment is not None
    assert deployment["metadata"]["annotations"]["modeldeploy.io/repo"] == "acme/fallback-small"
    # The served name stays the deployment's own, whatever candidate serves.
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--served-model-name") + 1] == "fb-missing"
    reasons = {e["reason"] for e in _events(cluster, namespace, "fb-missing")}
    assert {"ModelSwitched", "CandidateUnavailable"} <= reasons
    # MODEL is a plain column of `kubectl get mdep`.
    table = cluster.kubectl("get", "mdep", "fb-missing", "-n", namespace).stdout
    assert "MODEL" in table.splitlines()[0] and "acme/fallback-small" in table


def test_a_preferred_model_too_big_for_every_allowed_gpu_places_the_smaller_fallback(
    cluster: Cluster, namespace: str, hub: HubServer, running_operator: helpers.OperatorProcess
) -> None:
    """acme/huge's safetensors header says 200 GB: no allowed GPU holds it; acme/tiny fits."""
    gpu = {"count": 1, "products": ["NVIDIA-A100-SXM4-40GB"]}
    manifest = helpers.model_deployment(
        "fb-big",
        namespace=namespace,
        model={"repo": "acme/huge"},
        fallbacks=[{"repo": "acme/tiny"}],
        gpu=gpu,
    )
    with PodRuntimes(cluster, namespace):
        apply(cluster, manifest)
        obj = wait_status(
            cluster, "fb-big", namespace, lambda o: _active(o) == 1, what="the fallback serving"
        )
    candidates = obj["status"]["candidates"]
    assert candidates[0]["state"] == "Unavailable"
    assert candidates[0]["reason"] == "NoFittingGPUNode"
    pods = items(cluster, "pods", namespace, "modeldeploy.io/deployment=fb-big")
    assert pods and {p["spec"]["nodeName"] for p in pods} == {"kwok-a100-40gb-0"}
    assert obj["status"]["placement"]["gpuProduct"] == "NVIDIA-A100-SXM4-40GB"


def test_the_preferred_repo_appearing_later_is_rolled_back_up(
    cluster: Cluster, namespace: str, hub: HubServer, running_operator: helpers.OperatorProcess
) -> None:
    hub.add_repo("acme/fallback-later", SMALL)
    manifest = helpers.model_deployment(
        "fb-later",
        namespace=namespace,
        model={"repo": "acme/preferred-later"},
        fallbacks=[{"repo": "acme/fallback-later"}],
        fallbackPolicy={"retryPreferredEvery": "1m"},
    )
    with PodRuntimes(cluster, namespace):
        apply(cluster, manifest)
        wait_status(
            cluster, "fb-later", namespace, lambda o: _active(o) == 1, what="the fallback serving"
        )
        preferred = hub.add_repo("acme/preferred-later", SMALL)
        obj = wait_status(
            cluster,
            "fb-later",
            namespace,
            lambda o: _active(o) == 0 and o["status"].get("phase") == "Ready",
            what="the preferred model serving again",
            timeout=150,
        )
    status = obj["status"]
    assert status["activeModel"] == {
        "index": 0,
        "repo": "acme/preferred-later",
        "commit": preferred,
    }
    assert [c["state"] for c in status["candidates"]] == ["Active", "Standby"]
    fallback_active = condition(obj, "FallbackActive")
    assert fallback_active is not None and fallback_active["status"] == "False"
    deployment = helpers.get(cluster, "deployment", "fb-later", namespace)
    assert deployment is not None
    assert deployment["metadata"]["annotations"]["modeldeploy.io/repo"] == "acme/preferred-later"


def test_a_fallback_whose_load_fails_on_every_replica_moves_to_the_next(
    cluster: Cluster, namespace: str, hub: HubServer, running_operator: helpers.OperatorProcess
) -> None:
    hub.add_repo("acme/fails-to-load", SMALL)
    hub.add_repo("acme/loads-fine", SMALL)
    manifest = helpers.model_deployment(
        "fb-load",
        namespace=namespace,
        replicas=2,
        model={"repo": "acme/fails-to-load"},
        fallbacks=[{"repo": "acme/loads-fine"}],
    )
    oom = ("OutOfMemory", "CUDA out of memory while loading model.safetensors")
    with PodRuntimes(cluster, namespace, failing={"acme/fails-to-load": oom}):
        apply(cluster, manifest)
        obj = wait_status(
            cluster,
            "fb-load",
            namespace,
            lambda o: _active(o) == 1 and o["status"].get("phase") == "Ready",
            what="the second candidate serving",
        )
    first = obj["status"]["candidates"][0]
    assert (first["state"], first["reason"]) == ("Unavailable", "OutOfMemory")
    assert "every replica" in first["message"]
