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


def test_a_restart_that_has_not_recovered_yet_keeps_the_last_failure() -> None:
    # Seen on the real node with a corrupted cache file: between crash-loop restarts the new
    # container answers Starting/Verifying; the status must not flip back to healthy each time.
    restarted = PodView.from_pod(pod("p", running=True, terminated_message=CRASH, restarts=3))
    for state in ("Starting", "Verifying", "Loading"):
        replica = planner.Replica(restarted, RuntimeReport.from_json(runtime_status(state)))
        assert replica.failure == ("FileCorrupt", "model.safetensors")
        shown = replica.to_status()
        assert (shown.state, shown.reason) == (state, "FileCorrupt")
    recovered = planner.Replica(restarted, RuntimeReport.from_json(runtime_status("Ready")))
    assert recovered.failure is None


def test_a_pod_that_recovered_long_ago_drains_without_its_old_failure() -> None:
    restarted = PodView.from_pod(pod("p", running=True, terminated_message=CRASH, restarts=1))
    draining = planner.Replica(restarted, RuntimeReport.from_json(runtime_status("Draining")))
    assert draining.failure is None
    deleted = PodView.from_pod(
        pod("p", running=True, terminated_message=CRASH, restarts=1, deleting=True)
    )
    starting = planner.Replica(deleted, RuntimeReport.from_json(runtime_status("Loading")))
    assert starting.failure is None


def test_a_restart_not_answering_yet_keeps_the_last_failure_until_kubelet_finds_it_ready() -> None:
    starting = PodView.from_pod(
        pod("p", running=True, ready=False, terminated_message=CRASH, restarts=2)
    )
    unreachable = RuntimeReport.unreachable("connection refused")
    assert planner.Replica(starting, unreachable).failure == ("FileCorrupt", "model.safetensors")
    serving = PodView.from_pod(
        pod("p", running=True, ready=True, terminated_message=CRASH, restarts=2)
    )
    assert planner.Replica(serving, unreachable).failure is None
