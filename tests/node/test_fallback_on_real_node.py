"""Fallback models on the real node: a preferred model whose weights fail verification is
never served; the fallback serves completions through the Service under the deployment's
own model name; once the preferred model's bytes are right, it is rolled back up without a
moment in which the Service has no Ready replica (asked throughout).

The chart and images built from our Dockerfile, a hub mirror on the pod network, real fetch
Jobs writing a real volume. The tests of this module are stages of one story, in order.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import modelflow
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer

pytestmark = [pytest.mark.node, pytest.mark.timeout(1800)]

FALLBACK = "e2e/fallback-good"
PREFERRED = "e2e/fallback-preferred"
NAME = "answering"
NAMESPACE = "fallback-models"
READY_TIMEOUT = 900


@dataclasses.dataclass
class Story:
    cluster: Cluster
    watcher: modelflow.Watcher
    hub: HubServer
    weights: Path
    """The preferred repo's weights file as the hub serves it (flipped until stage 2)."""
    original: bytes
    lines: list[str]


def _status(snap: modelflow.Snapshot) -> dict[str, Any]:
    return dict((snap.model or {}).get("status") or {})


def _active(snap: modelflow.Snapshot) -> int | None:
    return (_status(snap).get("activeModel") or {}).get("index")


@pytest.fixture(scope="module")
def story(node_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    lines: list[str] = []
    with modelflow.chart_and_model(
        node_cluster, tmp_path_factory.mktemp("model"), repo=FALLBACK, namespace=NAMESPACE,
        approx_bytes=20e6, values={"operator.resolveSeconds": "5"},
    ) as hosted:  # fmt: skip
        # The preferred repo: a model of its own (the fallback's files with one weight
        # changed: the hub finds LFS objects by sha256, so its bytes must differ), hosted
        # from copies; once the hub took its sha256, one byte of the weights is changed on
        # disk (same size: only the sha256 can tell).
        copies = tmp_path_factory.mktemp("preferred")
        files = {}
        for path, source in hosted.files.items():
            files[path] = copies / path
            files[path].parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, files[path])
        [weights] = [p for name, p in files.items() if name.endswith(".safetensors")]
        variant = bytearray(weights.read_bytes())
        variant[-2] ^= 0x01  # the last tensor's data: still a valid checkpoint
        weights.write_bytes(bytes(variant))
        hosted.hub.add_repo(PREFERRED, files)
        original = bytes(variant)
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0xFF
        weights.write_bytes(bytes(flipped))
        manifest = modelflow.model_deployment(
            NAME, NAMESPACE, repo=PREFERRED, storage_class=node_cluster.storage_class or "",
            verify="quick",
        )  # fmt: skip
        manifest["spec"]["fallbacks"] = [{"repo": FALLBACK}]
        manifest["spec"]["fallbackPolicy"] = {"retryPreferredEvery": "1m"}
        node_cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
        watcher = modelflow.Watcher(node_cluster, NAMESPACE, NAME, lines.append)
        try:
            yield Story(node_cluster, watcher, hosted.hub, weights, original, lines)
        finally:
            print("\n".join(lines))


def _ask(base_url: str) -> dict[str, Any]:
    """A completion naming the deployment's model, as a client of the endpoint would."""
    body = json.dumps({"model": NAME, "prompt": "Hi", "max_tokens": 2, "temperature": 0}).encode()
    request = urllib.request.Request(
        f"{base_url}/v1/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def test_the_fallback_serves_when_the_preferred_weights_fail_verification(story: Story) -> None:
    snap = story.watcher.until(
        "the fallback serving",
        lambda s: _active(s) == 1 and modelflow.is_ready(s),
        timeout=READY_TIMEOUT,
    )
    status = _status(snap)
    preferred = status["candidates"][0]
    assert preferred["state"] == "Unavailable", preferred
    assert preferred["reason"] in {"ChecksumMismatch", "VerificationFailed"}, preferred
    assert status["activeModel"]["repo"] == FALLBACK
    fallback_active = modelflow.condition(snap.model or {}, "FallbackActive")
    assert fallback_active.get("status") == "True"
    base_url = modelflow.routed(story.watcher.api, NAMESPACE, NAME)
    answer = _ask(base_url)
    assert answer["model"] == NAME and answer["choices"][0]["text"]
    events = modelflow.events_for(story.watcher.api, NAMESPACE, NAME)
    assert any(e.get("reason") == "ModelSwitched" for e in events)


def test_the_preferred_model_comes_back_without_a_moment_unserved(story: Story) -> None:
    story.weights.write_bytes(story.original)  # the hub now serves the right bytes
    seen_before = len(story.lines)
    ip = modelflow.service_ip(story.watcher.api, NAMESPACE, NAME)
    served: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                served.append(_ask(f"http://{ip}:{modelflow.RUNTIME_PORT}")["model"])
            except OSError as exc:
                failures.append(f"{time.strftime('%H:%M:%S')} {exc!r}")
            time.sleep(0.3)

    asker = threading.Thread(target=keep_asking, daemon=True)
    asker.start()
    try:
        snap = story.watcher.until(
            "the preferred model serving again",
            lambda s: _active(s) == 0 and modelflow.is_ready(s),
            timeout=READY_TIMEOUT,
        )
        # Until the fallback's replica is gone too (the rolling update's last step).
        story.watcher.until(
            "one replica left", lambda s: len([p for p in s.pods if not p.deleting]) == 1,
            timeout=180,
        )  # fmt: skip
        time.sleep(3)
    finally:
        stop.set()
        asker.join(timeout=90)
    assert failures == [], failures
    # The status said Ready throughout: the fallback served while the preferred was tried.
    switch = [line for line in story.lines[seen_before:] if line.startswith("ModelDeployment")]
    assert switch and all("Ready=True" in line for line in switch), switch
    assert len(served) > 10 and set(served) == {NAME}
    status = _status(snap)
    assert status["activeModel"]["repo"] == PREFERRED
    assert [c["state"] for c in status["candidates"]] == ["Active", "Standby"]
    assert modelflow.condition(snap.model or {}, "FallbackActive").get("status") == "False"
