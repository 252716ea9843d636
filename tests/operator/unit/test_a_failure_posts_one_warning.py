"""A failure posts one Warning: not one per condition that reports it, not one per restart.

Seen by a new user on the real node: each failure posted two identical Warnings (Ready=False
and Degraded=True, same reason), and every crash-loop restart posted them again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from modeldeploy.operator.api.status import ConditionType as C
from modeldeploy.operator.api.status import ModelDeploymentStatus
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import conditions, naming, rollout
from modeldeploy.operator.planners import status as planner
from modeldeploy.operator.planners.observed import PodView, RuntimeReport
from tests.operator.unit.builders import COMMIT_A, pod, runtime_status, spec

UNREACHABLE = RuntimeReport.unreachable("connection refused")
TRACEBACK = (
    "Traceback (most recent call last):\n  ...\nRuntimeError: CUDA error: device-side assert"
)


def _next(previous: ModelDeploymentStatus, replica: planner.Replica) -> ModelDeploymentStatus:
    the_spec = spec(replicas=1)
    ctx = rollout.Context(
        names=naming.Names(name="tiny", namespace="ml"),
        uid="u",
        settings=Settings(),
        commit=COMMIT_A,
    )
    return planner.plan_status(
        planner.StatusInputs(
            name="tiny",
            generation=1,
            spec=the_spec,
            previous=previous,
            plan=rollout.plan(the_spec, ctx),
            resolve=planner.ResolveOutcome(COMMIT_A, "main"),
            fetch=None,
            replicas=[replica],
            fit=None,
            estimate_bytes=None,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def _warnings(observations: list[planner.Replica]) -> list[tuple[str, str]]:
    status, posted = ModelDeploymentStatus(), []
    for replica in observations:
        new = _next(status, replica)
        posted += [
            (n.reason, n.message)
            for n in conditions.events(status.conditions, new.conditions)
            if n.type == "Warning"
        ]
        status = new
    return posted


def _crash_loop(**last: str) -> list[planner.Replica]:
    """Loading, then three rounds of: crashed (back-off), restarted (Starting, Loading)."""
    seen = [
        planner.Replica(
            PodView.from_pod(pod("p")), RuntimeReport.from_json(runtime_status("Loading"))
        )
    ]
    for restarts in (1, 2, 3):
        down = pod("p", running=False, waiting_reason="CrashLoopBackOff", restarts=restarts, **last)
        up = pod("p", running=True, ready=False, restarts=restarts, **last)
        seen.append(planner.Replica(PodView.from_pod(down), UNREACHABLE))
        seen.append(planner.Replica(PodView.from_pod(up), UNREACHABLE))
        for state in ("Starting", "Loading"):
            seen.append(
                planner.Replica(
                    PodView.from_pod(up), RuntimeReport.from_json(runtime_status(state))
                )
            )
    return seen


def test_a_crash_loop_warns_once_whatever_the_crash_left_as_its_message() -> None:
    oom = _warnings(_crash_loop(terminated_message="Loading: 41%", terminated_reason="OOMKilled"))
    assert [reason for reason, _ in oom] == ["OOMKilled"]
    crash = _warnings(_crash_loop(terminated_message=TRACEBACK))
    assert [reason for reason, _ in crash] == ["Error"]
    typed = _warnings(_crash_loop(terminated_message="FileCorrupt: model.safetensors"))
    assert [reason for reason, _ in typed] == ["FileCorrupt"]


def test_conditions_reporting_the_same_failure_share_one_event() -> None:
    failing = conditions.merge(
        [],
        [
            conditions.false(C.VERIFIED, "ChecksumMismatch", "p1: model.safetensors differs"),
            conditions.false(C.READY, "ChecksumMismatch", "0/1 Ready; p1: model.safetensors"),
            conditions.true(C.DEGRADED, "ChecksumMismatch", "p1: model.safetensors differs"),
            conditions.false(C.SCHEDULED, "NoFittingGPUNode", "no node fits"),
        ],
        generation=1,
        now="T",
    )
    notes = conditions.events([], failing)
    assert [(n.type, n.reason) for n in notes] == [
        ("Warning", "ChecksumMismatch"),
        ("Warning", "NoFittingGPUNode"),
    ]
    assert notes[0].message == (
        "Verified=False, Ready=False, Degraded=True: p1: model.safetensors differs"
    )
