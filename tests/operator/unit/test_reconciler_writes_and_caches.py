"""One reconcile against fakes: status written once, children applied only when needed."""

from __future__ import annotations

import asyncio
from typing import Any

from modeldeploy.operator.api.status import ModelDeploymentStatus, Phase
from modeldeploy.operator.config import Settings
from tests.operator.unit import reconcile_fakes as fakes
from tests.operator.unit.builders import COMMIT_A, pod

SPEC = {"model": {"repo": "acme/tiny"}}
CRASHED = pod(
    "tiny-1", running=False, terminated_message="FileCorrupt: x", waiting_reason="CrashLoopBackOff"
)


def _run(reconciler: fakes.OfflineReconciler, body: dict, view: Any) -> float:
    return asyncio.run(reconciler.reconcile(body, view))


def test_a_reconcile_before_the_watch_echo_writes_nothing_again() -> None:
    reconciler, client = fakes.make()
    body, view = fakes.body(SPEC), fakes.view(pods=[CRASHED])
    _run(reconciler, body, view)
    assert len(client.patches) == 1 and client.events
    events = list(client.events)
    _run(reconciler, body, view)  # the cached body still has no status
    assert len(client.patches) == 1
    assert client.events == events  # no Event posted twice


def test_an_unchanged_status_is_not_written_again() -> None:
    reconciler, client = fakes.make()
    view = fakes.view(pods=[CRASHED])
    _run(reconciler, fakes.body(SPEC), view)
    echoed = fakes.body(SPEC, status=client.patches[0])
    restarted, client2 = fakes.make()  # a restarted operator knows only the body
    _run(restarted, echoed, view)
    assert client2.patches == []


def test_fields_no_longer_reported_are_removed_with_nulls() -> None:
    reconciler, client = fakes.make()
    stale = {"phase": "Loading", "progress": "42%", "observedGeneration": 1}
    _run(reconciler, fakes.body(SPEC, status=stale), fakes.view(pods=[CRASHED]))
    patch = client.patches[0]
    assert patch["progress"] is None and patch["phase"] == Phase.FAILED.value


def test_children_are_applied_again_only_when_changed_or_gone() -> None:
    reconciler, client = fakes.make()
    _run(reconciler, fakes.body(SPEC), fakes.view())
    first = {o["kind"] for o in client.applied}
    assert first == {"Deployment", "Service"}
    present = [
        {"metadata": {**o["metadata"], "generation": 1}}
        for o in client.applied
        if o["kind"] == "Deployment"
    ]
    services = [  # as the API server holds them: the version each apply answered
        {"metadata": {**o["metadata"], "resourceVersion": str(number)}}
        for number, o in enumerate(client.applied, start=1)
        if o["kind"] == "Service"
    ]
    client.applied.clear()
    _run(reconciler, fakes.body(SPEC), fakes.view(deployments=present, services=services))
    assert client.applied == []
    _run(reconciler, fakes.body(SPEC), fakes.view(deployments=present))  # Services deleted
    assert [o["kind"] for o in client.applied] == ["Service", "Service"]


def test_a_resolve_is_cached_until_resolve_seconds_pass() -> None:
    reconciler, _ = fakes.make()
    for _ in range(3):
        _run(reconciler, fakes.body(SPEC), fakes.view())
    assert reconciler.hub.asks == 1
    moved = {"model": {"repo": "acme/tiny", "revision": "v2"}}
    _run(reconciler, fakes.body(moved, generation=2), fakes.view())
    assert reconciler.hub.asks == 2  # a changed revision is resolved at once

    eager, _ = fakes.make(settings=Settings(runtime_image="img:1", resolve_seconds=0))
    eager.hub.commit = "c" * 40
    for _ in range(2):
        _run(eager, fakes.body(SPEC), fakes.view())
    assert eager.hub.asks == 2


def test_a_pinned_commit_is_resolved_once() -> None:
    reconciler, _ = fakes.make(settings=Settings(runtime_image="img:1", resolve_seconds=0))
    pinned = {"model": {"repo": "acme/tiny", "revision": COMMIT_A}}
    for _ in range(3):
        _run(reconciler, fakes.body(pinned), fakes.view())
    assert reconciler.hub.asks == 1


def test_next_look_polls_moving_phases_and_idles_otherwise() -> None:
    settings = Settings(runtime_image="img:1", status_poll_seconds=10, resolve_seconds=300)
    reconciler, _ = fakes.make(settings=settings)
    loading = ModelDeploymentStatus(phase=Phase.LOADING)
    assert reconciler._next_look(loading, has_pods=True, fetching=False) == 10
    ready = ModelDeploymentStatus(phase=Phase.READY)
    assert reconciler._next_look(ready, has_pods=True, fetching=False) == 80
    assert reconciler._next_look(ready, has_pods=False, fetching=True) == 10
    failed = ModelDeploymentStatus(phase=Phase.FAILED)
    # Nothing to poll: woken by events and its source's re-resolve, else an hourly backstop.
    assert reconciler._next_look(failed, has_pods=False, fetching=False) == 3600


def test_a_status_patch_clears_nested_fields_the_new_status_lacks() -> None:
    from modeldeploy.operator.reconciler import merge_patch

    stored = {
        "phase": "Ready",
        "message": "old",
        "activeModel": {"index": 1, "repo": "org/b", "reason": "org/a: RepoNotFound"},
    }
    new = {"phase": "Ready", "activeModel": {"index": 0, "repo": "org/a"}}
    patch = merge_patch(stored, new)
    assert patch == {
        "message": None,
        "phase": "Ready",
        "activeModel": {"index": 0, "repo": "org/a", "reason": None},
    }


def test_runtimes_that_never_answer_are_asked_less_often_after_a_while() -> None:
    settings = Settings(runtime_image="img:1", status_poll_seconds=10, resolve_seconds=300)
    reconciler, _ = fakes.make(settings=settings)
    deploying = ModelDeploymentStatus(phase=Phase.DEPLOYING)
    look = reconciler._next_look
    assert look(deploying, has_pods=True, fetching=False, unreachable_for=30) == 10
    assert look(deploying, has_pods=True, fetching=False, unreachable_for=121) == 80
