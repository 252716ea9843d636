"""The operator reads what the runtime writes: every state, reason and field of /status.

The documents come from the runtime's own builder (`runtime.status.document`) over a real state
machine, through JSON, into the operator's parser: a state or key renamed on one side only
fails here, never as a silent "unknown state" on a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.operator.planners.inputs import Replica
from modeldeploy.operator.planners.observed import PodView, RuntimeReport
from modeldeploy.operator.planners.phase import STATE_ORDER, STATE_PHASE
from modeldeploy.runtime import status
from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.state import StateMachine
from modeldeploy.runtime_report import (
    ROAD_TO_READY,
    SECONDS_IN,
    STARTUP_SECONDS,
    Reason,
    State,
    StatusDocument,
)


def runtime_in(state: State, tmp_path: Path) -> RuntimeContext:
    """A runtime moved along legal transitions to `state` (Failed straight from Starting)."""
    machine = StateMachine()
    if state is State.FAILED:
        machine.fail(Reason.LOAD_FAILED, "the weights would not load")
    else:
        road = (
            ROAD_TO_READY
            if state is State.DRAINING
            else ROAD_TO_READY[: ROAD_TO_READY.index(state) + 1]
        )
        for step in road[1:]:
            machine.transition(step)
        if state is State.DRAINING:
            machine.drain()
    return RuntimeContext(RuntimeConfig(model_dir=tmp_path / "model"), machine=machine)


def served(ctx: RuntimeContext) -> dict[str, Any]:
    """The runtime's /status document as the operator receives it (JSON over HTTP)."""
    doc: dict[str, Any] = json.loads(json.dumps(status.document(ctx)))
    return doc


@pytest.mark.parametrize("state", list(State))
def test_every_state_the_runtime_reports_is_one_the_operator_knows(
    state: State, tmp_path: Path
) -> None:
    ctx = runtime_in(state, tmp_path)
    assert ctx.machine.state is state
    report = RuntimeReport.from_json(served(ctx))
    assert report.reachable, report.message
    assert report.state == state


@pytest.mark.parametrize("reason", list(Reason))
def test_every_typed_reason_reaches_the_replica_status(reason: Reason, tmp_path: Path) -> None:
    ctx = runtime_in(State.STARTING, tmp_path)
    ctx.machine.fail(reason, "/m/model.safetensors: at fault")
    replica = Replica(
        pod=PodView(name="p-0", running=True), report=RuntimeReport.from_json(served(ctx))
    )
    shown = replica.to_status()
    assert (shown.state, shown.reason, shown.message) == (
        "Failed",
        reason.value,
        "/m/model.safetensors: at fault",
    )


def test_the_fields_the_operator_reads_carry_the_runtimes_values(tmp_path: Path) -> None:
    ctx = runtime_in(State.READY, tmp_path)
    ctx.info.commit, ctx.info.task, ctx.info.verified = "a" * 40, "text-generation", True
    ctx.usage.record()
    doc = served(ctx)
    report = RuntimeReport.from_json(doc)
    assert (report.commit, report.task, report.verified, report.progress) == (
        "a" * 40,
        "text-generation",
        True,
        1.0,
    )
    assert report.requests == 1 and report.last_request_at == doc["usage"]["lastRequestAt"]
    assert set(report.timings) == {*SECONDS_IN.values(), STARTUP_SECONDS}


def test_the_runtime_writes_exactly_the_documented_keys(tmp_path: Path) -> None:
    for state in State:
        assert set(served(runtime_in(state, tmp_path))) == StatusDocument.__required_keys__


def test_every_runtime_state_has_a_phase_and_a_place_in_the_order() -> None:
    assert set(State) <= set(STATE_PHASE)
    assert set(State) <= set(STATE_ORDER)
