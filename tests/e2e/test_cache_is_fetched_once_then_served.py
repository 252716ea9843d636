"""Cache mode: a PVC and a fetch Job per commit; replicas mount the cache read-only.

kwok completes the fetch Job's pod without running it (no download happens here: the
fetcher itself is tested in tests/hub); what is real is the Job, the PVC binding, and the
operator switching the Deployment to a commit only after that commit's Job succeeded.
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e import helpers
from tests.e2e.conftest import TINY_WEIGHTS
from tests.e2e.helpers import apply, condition, get, items, wait_status
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer

pytestmark = pytest.mark.cluster


def _commit_of(deployment: dict | None) -> str | None:
    return ((deployment or {}).get("metadata", {}).get("annotations") or {}).get(
        "modeldeploy.io/commit"
    )


def _job_of(cluster: Cluster, namespace: str, commit: str) -> dict | None:
    """The fetch Job of `commit` (named `<name>-fetch-<sha6>-<template digest>`)."""
    jobs = items(cluster, "jobs", namespace, "modeldeploy.io/deployment=cached")
    return next((j for j in jobs if _commit_of(j) == commit), None)


def test_fetch_job_then_read_only_replicas_then_new_commit(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess, hub: HubServer
) -> None:
    repo = f"acme/moving-{uuid.uuid4().hex[:6]}"
    first = hub.add_repo(repo, {"config.json": b"{}", "model.safetensors": TINY_WEIGHTS})
    storage_class = f"manual-{namespace}"
    with helpers.manual_volume(cluster, f"pv-{namespace}", storage_class=storage_class):
        spec = {
            "model": {"repo": repo},
            "replicas": 1,
            "cache": {"size": "1Gi", "storageClassName": storage_class},
        }
        apply(cluster, helpers.model_deployment("cached", namespace=namespace, **spec))
        job = helpers.wait_for(
            lambda: _job_of(cluster, namespace, first),
            bool,
            what="the fetch Job",
        )
        assert job["metadata"]["name"].startswith(f"cached-fetch-{first[:6]}-")
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[:6] == ["fetch", repo, "--dest", f"/cache/{first}", "--revision", first]
        deployment = helpers.wait_for(
            lambda: get(cluster, "deployment", "cached", namespace),
            lambda d: _commit_of(d) == first,
            what="the Deployment after the fetch",
            timeout=90,
        )
        pod_spec = deployment["spec"]["template"]["spec"]
        mount = next(m for m in pod_spec["containers"][0]["volumeMounts"] if m["name"] == "cache")
        assert mount["readOnly"] is True and "--repo" not in pod_spec["containers"][0]["args"]
        obj = wait_status(
            cluster,
            "cached",
            namespace,
            lambda o: (condition(o, "Fetched") or {}).get("status") == "True",
            what="Fetched=True",
        )
        assert (condition(obj, "Verified") or {}).get("reason") == "VerifiedAtFetch"
        assert obj["status"]["servingRevision"] == first

        # The branch moves: the new commit is resolved, fetched by its own Job, then served.
        second = hub.add_commit(
            repo, {"config.json": b'{"v": 2}', "model.safetensors": TINY_WEIGHTS}
        )
        helpers.wait_for(
            lambda: get(cluster, "deployment", "cached", namespace),
            lambda d: _commit_of(d) == second,
            what="rollout of the new commit",
            timeout=90,
        )
        jobs = helpers.wait_for(
            lambda: items(cluster, "jobs", namespace, "modeldeploy.io/deployment=cached"),
            lambda js: [_commit_of(j) for j in js] == [second],
            what="the old commit's Job removed",
        )
        assert jobs[0]["status"].get("succeeded") == 1
        wait_status(
            cluster,
            "cached",
            namespace,
            lambda o: (
                o.get("status", {}).get("resolvedRevision") == second
                and o.get("status", {}).get("servingRevision") == second
            ),
            what="status on the new commit",
        )

        # A changed file selection, same commit: a Job's template is immutable, so a new
        # Job (new name) fetches it and the old one is deleted; nothing is refused.
        old_name = jobs[0]["metadata"]["name"]
        narrowed = {**spec, "model": {"repo": repo, "include": ["*.json", "*.safetensors"]}}
        apply(cluster, helpers.model_deployment("cached", namespace=namespace, **narrowed))
        renewed = helpers.wait_for(
            lambda: items(cluster, "jobs", namespace, "modeldeploy.io/deployment=cached"),
            lambda js: (
                [_commit_of(j) for j in js] == [second] and js[0]["metadata"]["name"] != old_name
            ),
            what="the Job of the new selection replacing the old one",
        )
        assert "--include" in renewed[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        obj = wait_status(
            cluster,
            "cached",
            namespace,
            lambda o: (
                (condition(o, "Fetched") or {}).get("status") == "True"
                and o["status"].get("observedGeneration") == o["metadata"]["generation"]
            ),
            what="Fetched=True for the new selection",
        )
        assert (condition(obj, "Degraded") or {}).get("reason") != "ApplyFailed"
        cluster.kubectl("delete", "mdep", "cached", "-n", namespace, "--wait=true")
