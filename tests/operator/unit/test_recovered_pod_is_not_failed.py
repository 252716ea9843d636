"""A pod that restarted once and runs again is judged by its runtime, not its last crash."""

from __future__ import annotations

from modeldeploy.operator.planners import status as planner
from modeldeploy.operator.planners.observed import PodView, RuntimeReport
from tests.operator.unit.builders import pod, runtime_status

CRASH = "FileCorrupt: model.safetensors"


def test_a_running_container_ignores_its_last_termination() -> None:
    view = PodView.from_pod(pod("p", running=True, terminated_message=CRASH, restarts=1))
    assert view.failure is None and view.restarts == 1


def test_a_container_waiting_to_restart_shows_why_it_stopped() -> None:
    crashed = pod("p", running=False, terminated_message=CRASH, waiting_reason="CrashLoopBackOff")
    assert PodView.from_pod(crashed).failure == ("FileCorrupt", "model.safetensors")


def test_a_runtime_that_answers_loading_is_not_failed() -> None:
    # Even when the pod still carries a termination message (e.g. read while restarting).
    crashed = PodView.from_pod(pod("p", running=False, terminated_message=CRASH))
    replica = planner.Replica(crashed, RuntimeReport.from_json(runtime_status("Loading")))
    assert replica.failure is None
    assert replica.to_status().state == "Loading"


def test_a_runtime_that_answers_failed_is_failed() -> None:
    report = RuntimeReport.from_json(runtime_status("Failed", error=("OutOfMemory", "cuda")))
    replica = planner.Replica(PodView.from_pod(pod("p")), report)
    assert replica.failure == ("OutOfMemory", "cuda")
