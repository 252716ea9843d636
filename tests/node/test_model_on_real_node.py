"""A ModelDeployment on the real node, end to end, as a user would run it.

The chart installed with the images built from our Dockerfile, a hub mirror on the pod network
serving a generated model, `kubectl apply` → the fetch Job downloads and verifies into the cache
volume → the runtime pod loads the weights → kubelet's own readiness probe keeps the pod out of
the Service until warm-up is done → the status says Ready with timings → a completion through
the Service's ClusterIP (kube-proxy), with the API key the deployment names in a Secret
(`spec.runtime.apiKeySecretRef`: refused without it; the key in no pod spec, status or Event).
Then the faults: deleting a pod drains it on SIGTERM; a corrupted cache file fails the next
runtime with the file named, in the conditions and Events.

The tests of this module run in order and share one deployment (`deployed`): each is a stage
of one story, and starting the story again for each stage would cost minutes.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.support import modelflow
from tests.support.cluster import Cluster

# The first test also pays for the session's node (importing a 5.7 GB image when it changed)
# and for the whole rollout: more than the suite's default 600 s on a cold, busy machine.
pytestmark = [pytest.mark.node, pytest.mark.timeout(1800)]

REPO = "e2e/tiny-chat"
NAME = "tiny-chat"
NAMESPACE = "models"
READY_TIMEOUT = 900  # a cold node imports nothing here, but torch's first import is slow
API_KEY = "sk-node-test-4b1d9e7f0a"  # in the Secret below; must show up nowhere else


@dataclasses.dataclass
class Deployed:
    cluster: Cluster
    watcher: modelflow.Watcher
    ready: modelflow.Snapshot
    commit: str
    lines: list[str]


@pytest.fixture(scope="module")
def deployed(node_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    lines: list[str] = []
    with modelflow.chart_and_model(
        node_cluster, tmp_path_factory.mktemp("model"), repo=REPO, namespace=NAMESPACE,
        approx_bytes=40e6,
    ) as hosted:  # fmt: skip
        manifest = modelflow.model_deployment(
            NAME, NAMESPACE, repo=REPO, storage_class=node_cluster.storage_class or ""
        )
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{NAME}-api-key", "namespace": NAMESPACE},
            "stringData": {"token": API_KEY},
        }
        manifest["spec"]["runtime"]["apiKeySecretRef"] = {"name": f"{NAME}-api-key"}
        node_cluster.kubectl("apply", "-f", "-", stdin=json.dumps(secret))
        node_cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
        watcher = modelflow.Watcher(node_cluster, NAMESPACE, NAME, lines.append)
        try:
            ready = watcher.until("Ready", modelflow.is_ready, timeout=READY_TIMEOUT)
            modelflow.routed(watcher.api, NAMESPACE, NAME, api_key=API_KEY)
            yield Deployed(node_cluster, watcher, ready, hosted.commit, lines)
        finally:
            print("\n".join(lines))


def test_fetch_job_downloads_and_verifies_into_the_cache_volume(deployed: Deployed) -> None:
    status = deployed.ready.model["status"] if deployed.ready.model else {}
    assert status["resolvedRevision"] == deployed.commit
    # The fetch Job (the inline volume's clean-up Job may already run beside it, once Ready).
    fetches = [j for j in deployed.ready.jobs if "-fetch-" in j["metadata"]["name"]]
    assert [j["status"].get("succeeded") for j in fetches] == [1]
    verification = status["verification"]
    assert verification["algorithm"] == "sha256"
    assert status["download"]["bytesDone"] == status["download"]["bytesTotal"] > 0


def test_pod_is_ready_only_after_the_runtime_warmed_up(deployed: Deployed) -> None:
    evidence = deployed.watcher.evidence
    assert evidence.ready_while_not_serving == []
    (pod,) = [p for p in deployed.ready.pods if not p.deleting]
    assert pod.ready and pod.runtime_state == "Ready" and pod.ready_since
    # The runtime's own history: it verified, loaded and warmed up before it said Ready.
    states = [t["state"] for t in pod.runtime_history]
    assert states[-1] == "Ready"
    for earlier in ("Verifying", "Loading", "WarmingUp"):
        assert states.index(earlier) < states.index("Ready"), states
    # kubelet's probe result: the container ran a while without being Ready (the tiny model
    # loads in a fraction of a second, so the watcher may miss the Loading state itself), and
    # the Pod turned Ready no earlier than the runtime did (lastTransitionTime has seconds).
    assert pod.name in evidence.running_not_ready
    runtime_ready = next(t["at"] for t in pod.runtime_history if t["state"] == "Ready")
    assert _seconds(pod.ready_since) >= int(_seconds(runtime_ready)), (
        pod.ready_since,
        runtime_ready,
    )


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_status_says_ready_with_timings(deployed: Deployed) -> None:
    status = deployed.ready.model["status"] if deployed.ready.model else {}
    assert status["phase"] == "Ready"
    assert status["readyReplicas"] == 1
    timings = status["timings"]
    for key in ("downloadSeconds", "verifySeconds", "loadSeconds", "warmupSeconds"):
        assert timings.get(key) is not None and timings[key] >= 0, (key, timings)


def test_completion_is_served_through_the_service(deployed: Deployed) -> None:
    ip = modelflow.service_ip(deployed.watcher.api, NAMESPACE, NAME)
    base = f"http://{ip}:{modelflow.RUNTIME_PORT}"
    answer = modelflow.complete(base, "The model says", api_key=API_KEY)
    assert answer["choices"][0]["text"]
    assert answer["usage"]["completion_tokens"] > 0


def test_without_the_api_key_the_service_answers_401(deployed: Deployed) -> None:
    ip = modelflow.service_ip(deployed.watcher.api, NAMESPACE, NAME)
    base = f"http://{ip}:{modelflow.RUNTIME_PORT}"
    for key in (None, "sk-wrong"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            modelflow.complete(base, "The model says", api_key=key)
        assert refused.value.code == 401
        body = json.loads(refused.value.read())
        assert body["error"]["code"] == "invalid_api_key"
    status = urllib.request.urlopen(f"{base}/status", timeout=30).read().decode()
    assert API_KEY not in status  # /status stays open, and never shows the key


def test_the_key_is_in_no_pod_spec_status_or_event(deployed: Deployed) -> None:
    kinds = ("pods,deployments,modeldeployments", "events")
    seen = [
        deployed.cluster.kubectl("get", kind, "-n", NAMESPACE, "-o", "json").stdout
        for kind in kinds
    ]
    for text in seen:
        assert API_KEY not in text
    objects = json.loads(seen[0])["items"]
    args = [
        container.get("args", [])
        for item in objects
        if item["kind"] == "Pod"
        for container in item["spec"]["containers"]
    ]
    # The runtime gets a path to the mounted Secret, never the key itself.
    assert any("--api-key-file" in a for a in args), args


def test_deleting_a_pod_drains_it_on_sigterm(deployed: Deployed) -> None:
    cluster, watcher = deployed.cluster, deployed.watcher
    assert cluster.bin_dir is not None
    (pod,) = [p for p in watcher.step().pods if not p.deleting]
    logs = subprocess.Popen(
        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", "logs", "-f",
         "-n", NAMESPACE, pod.name],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, pod.name, "--wait=true", timeout=120)
        output, _ = logs.communicate(timeout=60)
    finally:
        logs.kill()
    assert "SIGTERM: draining" in output, output[-2000:]
    assert "drained; exiting" in output, output[-2000:]
    # The Deployment replaces it, and the replacement goes through the same gate.
    watcher.until("the replacement Ready", modelflow.is_ready, timeout=READY_TIMEOUT)
    assert watcher.evidence.ready_while_not_serving == []


def test_corrupted_cache_file_fails_the_runtime_with_the_file_named(deployed: Deployed) -> None:
    cluster, watcher = deployed.cluster, deployed.watcher
    claim = watcher.api.get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{NAME}-cache")
    volume = watcher.api.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
    root = Path((volume["spec"].get("hostPath") or volume["spec"]["local"])["path"])
    weights = [p for p in root.rglob("model.safetensors") if ".modeldeploy" not in p.parts]
    assert len(weights) == 1, weights
    with weights[0].open("r+b") as handle:  # same size, other bytes: only sha256 can tell
        handle.seek(weights[0].stat().st_size // 2)
        handle.write(b"\x00corrupted\x00")
    (pod,) = [p for p in watcher.step().pods if not p.deleting]
    cluster.kubectl("delete", "pod", "-n", NAMESPACE, pod.name, "--wait=true", timeout=120)

    def named_in_status(snap: modelflow.Snapshot) -> bool:
        ready = snap.ready
        return ready.get("reason") == "FileCorrupt" and "model.safetensors" in ready.get(
            "message", ""
        )

    snap = watcher.until("FileCorrupt in the Ready condition", named_in_status, timeout=300)
    assert snap.ready["status"] == "False"
    assert snap.phase in ("Degraded", "Failed")
    assert "sha256 mismatch" in snap.ready["message"]
    # It stays named while kubelet restarts the container (crash loop), never flapping back.
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        snap = watcher.step()
        assert named_in_status(snap), snap.ready
        assert not modelflow.is_ready(snap)
        time.sleep(0.5)
    events = modelflow.events_for(watcher.api, NAMESPACE, NAME)
    assert any(
        e.get("reason") == "FileCorrupt" and "model.safetensors" in e.get("message", "")
        for e in events
    ), [(e.get("reason"), e.get("message")) for e in events]
