"""A ModelCache on the real node: the shared fetch fills the volume, a flipped byte on the
volume is found by the scheduled verify, named, and repaired while the replica keeps serving,
and after the branch moves the old commit leaves the volume while the serving one stays.

The chart and images built from our Dockerfile, a hub mirror on the pod network, real Jobs
writing a real volume (the node's local storage class), the runtime serving completions
through the Service throughout. The tests of this module are stages of one story, in order.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import modelflow
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer

pytestmark = [pytest.mark.node, pytest.mark.timeout(1800)]

REPO = "e2e/shared-chat"
NAME = "shared-chat"
CACHE = "shared"
NAMESPACE = "cached-models"
READY_TIMEOUT = 900
VERIFY_EVERY = "1m"


@dataclasses.dataclass
class Story:
    cluster: Cluster
    watcher: modelflow.Watcher
    hub: HubServer
    files: dict[str, Path]
    commit: str
    lines: list[str]
    scratch: Path

    def cache(self) -> dict[str, Any]:
        path = f"/apis/{modelflow.GROUP_VERSION}/namespaces/{NAMESPACE}/modelcaches/{CACHE}"
        return dict(self.watcher.api.get(path) or {})

    def models(self) -> list[dict[str, Any]]:
        return list((self.cache().get("status") or {}).get("models") or [])

    def root(self) -> Path:
        """The volume's directory on this host (the node's local storage)."""
        api = self.watcher.api
        claim = api.get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/mc-{CACHE}")
        volume = api.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
        return Path((volume["spec"].get("hostPath") or volume["spec"]["local"])["path"])

    def until_cache(self, what: str, done: Any, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            models = self.models()
            self.watcher.step()
            if done(models):
                return models
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {json.dumps(models)}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def story(node_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    lines: list[str] = []
    values = {"operator.resolveSeconds": "5", "operator.cacheInventorySeconds": "20"}
    with modelflow.chart_and_model(
        node_cluster, tmp_path_factory.mktemp("model"), repo=REPO, namespace=NAMESPACE,
        approx_bytes=20e6, values=values,
    ) as hosted:  # fmt: skip
        model_cache = {
            "apiVersion": modelflow.GROUP_VERSION,
            "kind": "ModelCache",
            "metadata": {"name": CACHE, "namespace": NAMESPACE},
            "spec": {
                "storage": {"storageClassName": node_cluster.storage_class, "size": "1Gi"},
                "verify": {"every": VERIFY_EVERY, "repair": True},
            },
        }
        manifest = modelflow.model_deployment(
            NAME, NAMESPACE, repo=REPO, storage_class=node_cluster.storage_class or "",
            verify="quick",
        )  # fmt: skip
        manifest["spec"]["cache"] = {"name": CACHE}
        for obj in (model_cache, manifest):
            node_cluster.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
        watcher = modelflow.Watcher(node_cluster, NAMESPACE, NAME, lines.append)
        try:
            watcher.until("Ready", modelflow.is_ready, timeout=READY_TIMEOUT)
            modelflow.routed(watcher.api, NAMESPACE, NAME)
            scratch = tmp_path_factory.mktemp("scratch")
            yield Story(
                node_cluster, watcher, hosted.hub, hosted.files, hosted.commit, lines, scratch
            )
        finally:
            print("\n".join(lines))


def _weights(directory: Path) -> Path:
    [weights] = [p for p in directory.rglob("*.safetensors") if ".modeldeploy" not in p.parts]
    return weights


def test_the_shared_fetch_fills_the_volume(story: Story) -> None:
    [model] = story.until_cache(
        "the model Verified with its size", lambda ms: ms and ms[0].get("bytes"), timeout=120
    )
    assert model["state"] == "Verified" and model["commit"] == story.commit
    assert model["usedBy"] == [NAME]
    directory = story.root() / model["name"]
    manifest = json.loads((directory / ".modeldeploy" / "manifest.json").read_text())
    on_disk = sum(f["size"] for f in manifest["files"])
    assert on_disk == sum(p.stat().st_size for p in story.files.values())
    assert model["files"] == len(story.files)
    status = (story.watcher.step().model or {})["status"]
    assert status["cache"]["name"] == CACHE and status["cache"]["state"] == "Verified"
    assert status["cache"]["directory"] == model["name"]
    cache_status = story.cache()["status"]
    assert cache_status["modelCount"] == 1 and cache_status["capacityBytes"] > 0
    assert cache_status["usedBytes"] >= on_disk


def test_a_flipped_byte_is_found_named_and_repaired_while_the_replica_serves(story: Story) -> None:
    [model] = story.models()
    weights = _weights(story.root() / model["name"])
    original = weights.read_bytes()
    ip = modelflow.service_ip(story.watcher.api, NAMESPACE, NAME)
    served: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                answer = modelflow.complete(f"http://{ip}:{modelflow.RUNTIME_PORT}", "Hi", 2)
                served.append(answer["choices"][0]["text"])
            except OSError as exc:
                failures.append(repr(exc))
            time.sleep(0.5)

    asker = threading.Thread(target=keep_asking, daemon=True)
    asker.start()
    try:
        with weights.open("r+b") as handle:  # same size, other bytes: only sha256 can tell
            handle.seek(len(original) // 2)
            handle.write(b"\x00flipped\x00")
        seen: set[str] = set()

        def intact_reason(snap: modelflow.Snapshot) -> bool:
            intact = modelflow.condition(snap.model or {}, "ModelIntact")
            seen.add(f"{intact.get('status')}/{intact.get('reason')}")
            return "False/ModelCorrupted" in seen or "False/Repairing" in seen

        # The scheduled verify runs within VERIFY_EVERY (plus a Job's start-up).
        story.watcher.until("ModelIntact=False on the deployment", intact_reason, timeout=240)
        story.until_cache(
            "the model Verified again after the repair",
            lambda ms: ms and ms[0]["state"] == "Verified" and not ms[0].get("badFiles"),
            timeout=240,
        )
        assert weights.read_bytes() == original  # the repair put the hub's bytes back
        snap = story.watcher.until(
            "ModelIntact=True", lambda s: modelflow.condition(s.model or {}, "ModelIntact")
            .get("status") == "True", timeout=60,
        )  # fmt: skip
        assert modelflow.is_ready(snap)
    finally:
        stop.set()
        asker.join(timeout=90)
    assert failures == [] and len(served) > 3
    events = modelflow.events_for(story.watcher.api, NAMESPACE, CACHE, kind="ModelCache")
    reasons = {(e.get("reason"), weights.name in e.get("message", "")) for e in events}
    assert ("ModelCorrupted", True) in reasons, reasons
    assert any(e.get("reason") == "ModelRepaired" for e in events)
    [pod] = [p for p in story.watcher.step().pods if not p.deleting]
    assert pod.restarts == 0  # the same replica served throughout, from memory
    # Use, gathered from the runtime's /status: on the deployment and on the cache's model.
    story.until_cache(
        "the requests counted on the cache's model",
        lambda ms: ms and ms[0].get("requests", 0) >= len(served) and ms[0].get("lastUsed"),
        timeout=90,
    )
    usage = ((story.watcher.step().model or {}).get("status") or {}).get("usage") or {}
    assert usage.get("requests", 0) >= len(served) and usage.get("lastUsed"), usage


def test_after_the_branch_moves_the_old_commit_leaves_the_volume(story: Story) -> None:
    [old] = story.models()
    old_dir = story.root() / old["name"]
    changed = {**story.files}
    config = json.loads(changed["config.json"].read_text())
    newer = story.scratch / "config.json"
    newer.write_text(json.dumps({**config, "_modeldeploy_test": 2}))
    changed["config.json"] = newer
    second = story.hub.add_commit(REPO, changed)

    def serving_second(snap: modelflow.Snapshot) -> bool:
        status = (snap.model or {}).get("status") or {}
        return modelflow.is_ready(snap) and status.get("servingRevision") == second

    story.watcher.until("Ready on the new commit", serving_second, timeout=READY_TIMEOUT)
    models = story.until_cache(
        "only the new commit on the volume",
        lambda ms: [m.get("commit") for m in ms] == [second],
        timeout=240,
    )
    assert models[0]["state"] == "Verified" and models[0]["usedBy"] == [NAME]
    assert not old_dir.exists()
    assert (story.root() / models[0]["name"] / ".modeldeploy" / "manifest.json").is_file()
    events = modelflow.events_for(story.watcher.api, NAMESPACE, CACHE, kind="ModelCache")
    assert any(
        e.get("reason") == "ModelEvicted"
        and old["name"] in e.get("message", "")
        and "old commit" in e.get("message", "")
        for e in events
    ), [(e.get("reason"), e.get("message")) for e in events]
