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
            lambda: get(cluster, "job", f"cached-fetch-{first[:10]}", namespace),
            bool,
            what="the fetch Job",
        )
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
            lambda js: [j["metadata"]["name"] for j in js] == [f"cached-fetch-{second[:10]}"],
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
        cluster.kubectl("delete", "mdep", "cached", "-n", namespace, "--wait=true")
