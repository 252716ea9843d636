"""Parsing pods, Jobs, fetch logs and runtime /status documents."""

from __future__ import annotations

from typing import Any

from modeldeploy.operator.planners import naming
from modeldeploy.operator.planners.observed import (
    FetchView,
    PodView,
    RuntimeReport,
    last_progress_line,
)
from tests.operator.unit.builders import COMMIT_A, pod, runtime_status


def test_runtime_report_keys() -> None:
    doc = runtime_status("Loading", progress=0.5, timings={"loadSeconds": 2.0})
    doc.update(commit=COMMIT_A, download=None, timings={"loadSeconds": 2.0, "warmupSeconds": None})
    report = RuntimeReport.from_json(doc)
    assert (report.state, report.progress, report.commit, report.verified) == (
        "Loading",
        0.5,
        COMMIT_A,
        True,
    )
    assert report.timings == {"loadSeconds": 2.0}


def test_unknown_state_is_not_trusted() -> None:
    assert not RuntimeReport.from_json({"state": "Totally-Ready"}).reachable


def test_progress_is_clamped() -> None:
    assert RuntimeReport.from_json({"state": "Loading", "progress": 7}).progress == 1.0


def test_pod_view_reads_scheduling_and_crashes() -> None:
    view = PodView.from_pod(
        pod("p", running=False, scheduled=False, unschedulable_message="no GPU")
    )
    assert view.scheduled is False and view.unschedulable_message == "no GPU" and not view.running
    crashed = PodView.from_pod(
        pod("p", running=False, terminated_message="FileCorrupt: a.safetensors", restarts=3)
    )
    assert crashed.failure == ("FileCorrupt", "a.safetensors") and crashed.restarts == 3
    plain = PodView.from_pod(pod("p", running=False, terminated_message="Traceback ..."))
    assert plain.failure == ("Error", "Traceback ...")
    backoff = PodView.from_pod(pod("p", running=False, waiting_reason="ImagePullBackOff"))
    assert backoff.failure is not None and backoff.failure[0] == "ImagePullBackOff"


def test_fetch_view_from_job() -> None:
    job = {
        "metadata": {"name": "j", "annotations": {naming.ANNOTATION_COMMIT: COMMIT_A}},
        "status": {
            "succeeded": 1,
            "startTime": "s",
            "completionTime": "c",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }
    view = FetchView.from_job(job)
    assert view.succeeded and view.commit == COMMIT_A and view.error is None
    failed = FetchView.from_job(
        {
            "metadata": {"name": "j"},
            "status": {
                "conditions": [
                    {"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}
                ]
            },
        }
    )
    assert failed.error == ("FetchFailed", "BackoffLimitExceeded")


def test_last_progress_line_skips_other_output() -> None:
    log = (
        '{"event":"downloading","bytesDone":1}\nWARNING something\n'
        '{"event":"downloading","bytesDone":5}\n{broken\n'
    )
    assert last_progress_line(log) == {"event": "downloading", "bytesDone": 5}
    assert last_progress_line("no json here") is None


def test_relisted_objects_are_not_changes() -> None:
    from modeldeploy.operator.indexes import SeenVersions

    seen = SeenVersions()
    body = {"metadata": {"uid": "u1", "resourceVersion": "7"}}
    assert seen.changed(None, body)
    assert not seen.changed(None, body)  # the same object again after a watch reconnect
    assert seen.changed("MODIFIED", {"metadata": {"uid": "u1", "resourceVersion": "8"}})
    assert seen.changed("DELETED", {"metadata": {"uid": "u1", "resourceVersion": "8"}})
    assert seen.changed(None, {"metadata": {"uid": "u1", "resourceVersion": "8"}})


def test_a_deployment_wakes_its_owner_only_for_what_the_operator_reads() -> None:
    from modeldeploy.operator.indexes import SeenVersions

    seen = SeenVersions()

    def deployment(version: str, annotations: dict[str, str], generation: int = 1) -> Any:
        return {
            "metadata": {
                "uid": "d1",
                "resourceVersion": version,
                "generation": generation,
                "labels": {"app": "tiny"},
                "annotations": annotations,
            },
            "status": {"replicas": int(version)},
        }

    ours = {"modeldeploy.io/commit": "a" * 40}
    assert seen.changed(None, deployment("1", ours), kind="deployments")
    # The controller's status and its own revision annotation: nothing the operator reads.
    assert not seen.changed("MODIFIED", deployment("2", ours), kind="deployments")
    controller = {**ours, "deployment.kubernetes.io/revision": "1"}
    assert not seen.changed("MODIFIED", deployment("3", controller), kind="deployments")
    # Someone edits our annotation, or the spec: the owner must look (and restore it).
    assert seen.changed("MODIFIED", deployment("4", {}), kind="deployments")
    assert seen.changed("MODIFIED", deployment("5", {}, generation=2), kind="deployments")
