"""A ModelCache shared by two ModelDeployments: one fetch Job, one directory, both mount it.

Real API server, scheduler and controllers (kwok completes Job pods without running them;
the fetch itself and the volume's inventory are tested in tests/hub and tests/node). What
is real here: the ModelCache kind with its status and columns, the claim, the one Job, the
Deployments that mount the same directory of the same claim, and who uses what.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, get, items
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer

pytestmark = pytest.mark.cluster


def _model_cache(name: str, namespace: str, storage_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelCache",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"storage": {"size": "1Gi", "storageClassName": storage_class}},
    }


def _cache_status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return (get(cluster, "modelcache", "shared", namespace) or {}).get("status") or {}


def _model_dir(deployment: dict[str, Any]) -> tuple[str, str]:
    pod = deployment["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    claim = next(v for v in pod["volumes"] if v["name"] == "cache")["persistentVolumeClaim"]
    return claim["claimName"], args[args.index("--model-dir") + 1]


def test_two_deployments_share_one_fetch_and_one_directory(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess, hub: HubServer
) -> None:
    storage_class = f"manual-{namespace}"
    with helpers.manual_volume(cluster, f"pv-{namespace}", storage_class=storage_class):
        apply(cluster, _model_cache("shared", namespace, storage_class))
        for name in ("left", "right"):
            spec = {"model": {"repo": "acme/tiny"}, "cache": {"name": "shared"}}
            apply(cluster, helpers.model_deployment(name, namespace=namespace, **spec))

        def fetch_jobs() -> list[dict[str, Any]]:
            selector = "modeldeploy.io/cache=shared,app.kubernetes.io/component=fetch"
            return items(cluster, "jobs", namespace, selector)

        [job] = helpers.wait_for(fetch_jobs, lambda jobs: len(jobs) >= 1, what="the fetch Job")
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        directory = args[args.index("--dest") + 1]
        assert directory.startswith("/cache/acme--tiny--")
        deployments = helpers.wait_for(
            lambda: [get(cluster, "deployment", n, namespace) for n in ("left", "right")],
            all,
            what="both Deployments after the shared fetch",
            timeout=90,
        )
        assert len(fetch_jobs()) <= 1  # never a second fetch of the same directory
        assert {_model_dir(d) for d in deployments} == {("mc-shared", directory)}
        status = helpers.wait_for(
            lambda: _cache_status(cluster, namespace),
            lambda s: [m.get("usedBy") for m in s.get("models") or []] == [["left", "right"]],
            what="the model used by both",
        )
        [model] = status["models"]
        assert model["state"] == "Verified" and f"/cache/{model['name']}" == directory
        assert status["modelCount"] == 1
        for name in ("left", "right"):
            obj = get(cluster, "modeldeployment", name, namespace) or {}
            assert obj["status"]["cache"]["directory"] == model["name"]
            assert obj["status"]["cache"]["state"] == "Verified"
        table = cluster.kubectl("get", "mcache", "shared", "-n", namespace).stdout
        header = table.splitlines()[0].split()
        assert header[:5] == ["NAME", "MODELS", "USED", "CAPACITY", "LAST-VERIFIED"]
        assert table.splitlines()[1].split()[:2] == ["shared", "1"]

        cluster.kubectl("delete", "modeldeployment", "left", "-n", namespace, "--wait=true")
        status = helpers.wait_for(
            lambda: _cache_status(cluster, namespace),
            lambda s: [m.get("usedBy") for m in s.get("models") or []] == [["right"]],
            what="the model still used by the other deployment",
        )
        assert status["models"][0]["state"] == "Verified"
        assert get(cluster, "deployment", "right", namespace) is not None


def test_a_preload_is_fetched_before_anyone_asks(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess, hub: HubServer
) -> None:
    storage_class = f"manual-{namespace}"
    with helpers.manual_volume(cluster, f"pv-{namespace}", storage_class=storage_class):
        cache = _model_cache("shared", namespace, storage_class)
        cache["spec"]["preload"] = [{"repo": "acme/tiny", "revision": "main"}]
        apply(cluster, cache)
        selector = "modeldeploy.io/cache=shared,app.kubernetes.io/component=fetch"
        [job] = helpers.wait_for(
            lambda: items(cluster, "jobs", namespace, selector), bool, what="the preload's Job"
        )
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[:2] == ["fetch", "acme/tiny"]
        assert args[args.index("--revision") + 1] == hub.repos["acme/tiny"].refs["main"]
        status = helpers.wait_for(
            lambda: _cache_status(cluster, namespace),
            lambda s: [m.get("state") for m in s.get("models") or []] == ["Verified"],
            what="the preloaded model Verified",
        )
        assert status["models"][0]["usedBy"] == []  # held although nobody uses it yet
