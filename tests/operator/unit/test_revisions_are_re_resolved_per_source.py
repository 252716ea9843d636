"""An idle fleet re-resolves each source once, and wakes only the deployments it moved."""

from __future__ import annotations

import asyncio
from typing import Any

from modeldeploy.operator.api.spec import ModelDeploymentSpec
from modeldeploy.operator.api.status import ModelDeploymentStatus
from modeldeploy.operator.config import Settings
from modeldeploy.operator.handlers import Operator
from modeldeploy.operator.planners import status as status_planner
from tests.operator.unit import reconcile_fakes as fakes
from tests.operator.unit.builders import COMMIT_A, COMMIT_B


class MovingHub(fakes.OfflineHub):
    """An OfflineHub whose answer is set per repo (test double for the Hub's API)."""

    answers: dict[str, Any]

    async def ask_hub(self, key: Any, spec: Any, earlier: str | None) -> Any:
        self.asks += 1
        answer = self.answers[spec.model.repo]
        if isinstance(answer, tuple):
            return status_planner.ResolveOutcome(earlier, spec.model.revision, answer, True)
        return status_planner.ResolveOutcome(answer, spec.model.revision, None, False, 0.1)


def _hub(resolve_seconds: float) -> tuple[MovingHub, list[tuple[str, str]]]:
    settings = Settings(runtime_image="img:1", resolve_seconds=resolve_seconds)
    hub = MovingHub(settings=settings, client=fakes.FakeKube())  # type: ignore[arg-type]
    hub.answers = {"acme/tiny": COMMIT_A, "acme/other": COMMIT_A}
    woken: list[tuple[str, str]] = []
    hub.wake = woken.append
    return hub, woken


def _spec(repo: str, revision: str = "main") -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate({"model": {"repo": repo, "revision": revision}})


def _resolve_all(hub: MovingHub, specs: dict[tuple[str, str], ModelDeploymentSpec]) -> None:
    async def run() -> None:
        for key, spec in specs.items():
            await hub.resolve(key, spec, ModelDeploymentStatus())

    asyncio.run(run())


def _age(hub: MovingHub) -> None:
    """Every resolve held happened an hour ago (its time to be asked again has come)."""
    for resolved in hub._resolved.values():
        resolved.at -= 3600


def test_a_moved_branch_wakes_only_the_deployments_of_that_source() -> None:
    hub, woken = _hub(resolve_seconds=300)
    specs = {("ml", f"tiny-{i}"): _spec("acme/tiny") for i in range(3)}
    specs[("ml", "other")] = _spec("acme/other")
    _resolve_all(hub, specs)
    assert hub.asks == 2  # three deployments of one source share one resolve

    _age(hub)
    assert asyncio.run(hub.refresh_due()) == 2
    assert woken == []  # nothing moved: nobody wakes
    assert asyncio.run(hub.refresh_due()) == 0  # just asked

    hub.answers["acme/tiny"] = COMMIT_B
    _age(hub)
    asyncio.run(hub.refresh_due())
    assert woken == [("ml", "tiny-0"), ("ml", "tiny-1"), ("ml", "tiny-2")]


def test_a_source_is_asked_again_only_when_its_time_has_come() -> None:
    hub, _ = _hub(resolve_seconds=300)
    _resolve_all(hub, {("ml", "tiny"): _spec("acme/tiny")})
    assert asyncio.run(hub.refresh_due()) == 0
    assert hub.asks == 1


def test_a_pinned_commit_is_never_asked_again() -> None:
    hub, _ = _hub(resolve_seconds=300)
    _resolve_all(hub, {("ml", "tiny"): _spec("acme/tiny", revision=COMMIT_A)})
    _age(hub)
    assert asyncio.run(hub.refresh_due()) == 0


def test_a_failing_source_wakes_its_deployments_when_it_recovers() -> None:
    hub, woken = _hub(resolve_seconds=300)
    hub.answers["acme/tiny"] = ("NetworkError", "connection refused")
    _resolve_all(hub, {("ml", "tiny"): _spec("acme/tiny")})
    for resolved in hub._resolved.values():
        resolved.at -= 31  # a retryable failure is asked again after 30 s, not 300
    hub.answers["acme/tiny"] = COMMIT_A
    asyncio.run(hub.refresh_due())
    assert woken == [("ml", "tiny")]


def test_a_deleted_or_edited_deployment_leaves_its_source() -> None:
    hub, woken = _hub(resolve_seconds=300)
    _resolve_all(hub, {("ml", "a"): _spec("acme/tiny"), ("ml", "b"): _spec("acme/tiny")})
    hub.forget(("ml", "a"))
    _resolve_all(hub, {("ml", "b"): _spec("acme/other")})  # b now names another repo
    hub.answers["acme/tiny"] = COMMIT_B
    _age(hub)
    assert asyncio.run(hub.refresh_due()) == 1  # acme/tiny has no user left: not asked
    assert woken == []


class _Recorder:
    """Stands in for the operator's Workers: records whom a node event wakes."""

    def __init__(self) -> None:
        self.woken: list[tuple[str, str]] = []

    def wake_if_known(self, key: tuple[str, str]) -> None:
        self.woken.append(key)


def _node(allocatable: str, heartbeat: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "gpu-1", "labels": {"nvidia.com/gpu.product": "A100"}},
        "spec": {},
        "status": {
            "allocatable": {"nvidia.com/gpu": allocatable},
            "conditions": [{"type": "Ready", "lastHeartbeatTime": heartbeat}],
        },
    }


def test_a_node_change_wakes_the_gpu_deployments_but_a_heartbeat_does_not() -> None:
    op = Operator(Settings(runtime_image="img:1"))
    recorder = _Recorder()
    op.workers = recorder  # type: ignore[assignment]
    op.bodies = {
        ("ml", "gpu"): {"spec": {"gpu": {"count": 1}}},
        ("ml", "cpu"): {"spec": {"gpu": {"count": 0}}},
    }
    op.on_node("ADDED", _node("4", "t1"))
    assert recorder.woken == [("ml", "gpu")]
    op.on_node("MODIFIED", _node("4", "t2"))
    assert recorder.woken == [("ml", "gpu")]  # a heartbeat: nothing placement reads
    op.on_node("MODIFIED", _node("8", "t3"))
    op.on_node("DELETED", _node("8", "t3"))
    assert recorder.woken == [("ml", "gpu")] * 3
