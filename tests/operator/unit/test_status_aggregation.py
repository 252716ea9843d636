"""Status from observations: Ready only when the runtimes themselves say so."""

from __future__ import annotations

from datetime import UTC, datetime

from modeldeploy.operator.api.status import ModelDeploymentStatus, Phase, ReplicaStatus
from modeldeploy.operator.api.validation import Problem
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import naming, rollout
from modeldeploy.operator.planners import status as planner
from modeldeploy.operator.planners.observed import FetchView, PodView, RuntimeReport
from modeldeploy.operator.planners.placement import Fit
from tests.operator.unit.builders import COMMIT_A, COMMIT_B, pod, runtime_status, spec

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NAMES = naming.Names(name="tiny", namespace="ml")


def _status(
    the_spec=None,
    *,
    replicas=(),
    fetch=None,
    fit=None,
    resolve=None,
    previous=None,
    serving_elsewhere=None,
):
    the_spec = the_spec or spec(replicas=2)
    resolve = resolve or planner.ResolveOutcome(COMMIT_A, "main", seconds=0.5)
    ctx = rollout.Context(
        names=NAMES,
        uid="u",
        settings=Settings(),
        commit=resolve.commit,
        fetched_commits=frozenset({COMMIT_A}) if fetch and fetch.succeeded else frozenset(),
        fit=fit,
    )
    plan = rollout.plan(the_spec, ctx)
    return planner.plan_status(
        planner.StatusInputs(
            name="tiny",
            generation=3,
            spec=the_spec,
            previous=previous or ModelDeploymentStatus(),
            plan=plan,
            resolve=resolve,
            fetch=fetch,
            replicas=list(replicas),
            fit=fit,
            estimate_bytes=2 << 30,
            now=NOW,
            serving_elsewhere=serving_elsewhere,
        )
    )


def _replica(name, doc=None, **pod_fields):
    report = (
        RuntimeReport.from_json(doc)
        if doc is not None
        else RuntimeReport.unreachable("connection refused")
    )
    return planner.Replica(PodView.from_pod(pod(name, **pod_fields)), report)


def _condition(status, kind):
    return next(c for c in status.conditions if c.type == kind)


def test_ready_only_when_every_runtime_reports_ready() -> None:
    status = _status(
        replicas=[_replica("p1", runtime_status("Ready")), _replica("p2", runtime_status("Ready"))]
    )
    assert status.phase is Phase.READY and status.ready == "2/2" and status.ready_replicas == 2
    assert _condition(status, "Ready").status == "True"
    assert status.observed_generation == 3 and _condition(status, "Ready").observed_generation == 3


def test_runtime_ready_is_not_ready_until_kubelets_probe_admits_the_pod() -> None:
    # Seen on the real node: the runtime says Ready seconds before kubelet's startup and
    # readiness probes pass; until then the Service sends it nothing, so it is not Ready.
    waiting = _status(
        spec(replicas=1), replicas=[_replica("p1", runtime_status("Ready"), ready=False)]
    )
    assert waiting.ready_replicas == 0 and waiting.phase is Phase.DEPLOYING
    assert "readiness probe" in (waiting.message or "")
    ready = _condition(waiting, "Ready")
    assert ready.status == "False" and ready.reason == "WaitingForReadinessProbe"
    assert [r.state for r in waiting.replica_statuses] == ["Ready"]  # what the runtime says
    admitted = _status(
        spec(replicas=1), replicas=[_replica("p1", runtime_status("Ready"), ready=True)]
    )
    assert admitted.phase is Phase.READY and admitted.ready_replicas == 1


def test_running_pods_whose_runtime_cannot_be_asked_are_never_ready() -> None:
    status = _status(replicas=[_replica("p1"), _replica("p2")])
    assert status.ready_replicas == 0 and status.phase is Phase.DEPLOYING
    assert [r.state for r in status.replica_statuses] == ["Unreachable", "Unreachable"]
    ready = _condition(status, "Ready")
    assert ready.status == "False" and ready.reason == "RuntimeUnreachable"


def test_slowest_replica_sets_the_phase_and_progress() -> None:
    status = _status(
        replicas=[
            _replica("p1", runtime_status("Ready")),
            _replica("p2", runtime_status("Loading", progress=0.42)),
        ]
    )
    assert status.phase is Phase.LOADING and status.progress == "42%"
    assert status.ready == "1/2"


def test_runtime_failure_reason_reaches_conditions_and_replica() -> None:
    failed = runtime_status("Failed", error=("InsufficientGPUMemory", "needs 20 GiB, 15 GiB free"))
    status = _status(replicas=[_replica("p1", runtime_status("Ready")), _replica("p2", failed)])
    assert status.phase is Phase.DEGRADED
    assert _condition(status, "Degraded").reason == "InsufficientGPUMemory"
    assert _condition(status, "Ready").reason == "InsufficientGPUMemory"
    assert status.replica_statuses[1].reason == "InsufficientGPUMemory"


def test_termination_message_names_the_failure_when_the_runtime_is_gone() -> None:
    crashed = _replica(
        "p1",
        running=False,
        terminated_message="ChecksumMismatch: model.safetensors differs",
        waiting_reason="CrashLoopBackOff",
    )
    status = _status(spec(replicas=1), replicas=[crashed])
    assert status.phase is Phase.FAILED
    assert _condition(status, "Verified").reason == "ChecksumMismatch"
    assert status.replica_statuses[0].state == "Failed"
    assert "model.safetensors" in (status.replica_statuses[0].message or "")


def test_unschedulable_pods_report_the_scheduler_reason() -> None:
    stuck = _replica(
        "p1",
        running=False,
        node_name=None,
        ip=None,
        scheduled=False,
        unschedulable_message="0/5 nodes are available: 5 Insufficient nvidia.com/gpu.",
    )
    status = _status(spec(replicas=1), replicas=[stuck])
    scheduled = _condition(status, "Scheduled")
    assert scheduled.status == "False" and "Insufficient nvidia.com/gpu" in scheduled.message
    assert status.phase is Phase.PENDING


def test_no_fitting_node_is_said_before_any_pod_exists() -> None:
    fit = Fit(False, None, None, "a replica needs 1x nvidia.com/gpu with at least 229906 MiB each")
    status = _status(spec(gpu={"count": 1}), fit=fit)
    scheduled = _condition(status, "Scheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "NoFittingGPUNode")
    assert status.phase is Phase.PENDING and status.ready == "0/1"  # still wanted
    assert _condition(status, "Ready").reason == "NoFittingGPUNode"


def test_download_progress_shows_while_the_fetch_job_runs() -> None:
    line = {
        "event": "downloading",
        "bytesDone": 250,
        "bytesTotal": 1000,
        "filesDone": 1,
        "filesTotal": 4,
        "bytesPerSecond": 50.0,
        "etaSeconds": 15.0,
    }
    fetch = FetchView(name="tiny-fetch-aaaa", commit=COMMIT_A, active=True, progress=line)
    status = _status(spec(cache={"size": "1Gi"}), fetch=fetch)
    assert status.phase is Phase.DOWNLOADING and status.progress == "25%"
    assert status.download is not None and status.download.files_total == 4
    assert status.download.eta_seconds == 15.0
    assert _condition(status, "Fetched").reason == "Downloading"


def test_fetch_failure_reason_is_typed() -> None:
    line = {"event": "error", "reason": "GatedRepo", "message": "acme/tiny is gated"}
    fetch = FetchView(name="j", commit=COMMIT_A, failed=True, progress=line)
    status = _status(spec(cache={"size": "1Gi"}), fetch=fetch)
    assert status.phase is Phase.FAILED
    fetched = _condition(status, "Fetched")
    assert (fetched.status, fetched.reason, fetched.message) == (
        "False",
        "GatedRepo",
        "acme/tiny is gated",
    )


def test_finished_fetch_records_verification_and_download_time() -> None:
    fetch = FetchView(
        name="j",
        commit=COMMIT_A,
        succeeded=True,
        started_at="2026-01-01T11:00:00Z",
        completed_at="2026-01-01T11:01:30Z",
        progress={"event": "done", "manifestDigest": "d" * 64},
    )
    status = _status(
        spec(cache={"size": "1Gi"}, replicas=1),
        fetch=fetch,
        replicas=[_replica("p1", runtime_status("Ready"))],
    )
    assert _condition(status, "Verified").status == "True"
    assert (
        status.verification is not None
        and status.verification.verified_at == "2026-01-01T11:01:30Z"
    )
    assert status.timings is not None and status.timings.download_seconds == 90.0
    assert status.phase is Phase.READY


def test_resolve_failure_is_permanent_or_retried() -> None:
    gone = planner.ResolveOutcome(
        None, "main", ("RepoNotFound", "acme/tiny not found"), retryable=False
    )
    status = _status(resolve=gone)
    assert status.phase is Phase.FAILED and _condition(status, "Resolved").reason == "RepoNotFound"
    flaky = planner.ResolveOutcome(None, "main", ("NetworkError", "timed out"), retryable=True)
    assert _status(resolve=flaky).phase is Phase.RESOLVING


def test_suspended_says_so() -> None:
    status = _status(spec(suspend=True))
    assert status.phase is Phase.SUSPENDED and _condition(status, "Ready").reason == "Suspended"


def test_scale_subresource_fields() -> None:
    status = _status(
        replicas=[_replica("p1", runtime_status("Ready")), _replica("gone", deleting=True)]
    )
    assert status.replicas == 1
    assert status.selector == "app.kubernetes.io/component=runtime,modeldeploy.io/deployment=tiny"
    assert status.resolved_revision == COMMIT_A and status.short_revision == COMMIT_A[:12]


def test_timings_come_from_the_runtimes() -> None:
    ready = runtime_status(
        "Ready", timings={"loadSeconds": 3.5, "warmupSeconds": 0.25, "verifySeconds": 1.0}
    )
    status = _status(spec(replicas=1), replicas=[_replica("p1", ready)])
    assert status.timings is not None
    assert (
        status.timings.load_seconds,
        status.timings.warmup_seconds,
        status.timings.verify_seconds,
    ) == (3.5, 0.25, 1.0)
    assert status.timings.resolve_seconds == 0.5


def test_invalid_spec_names_every_field() -> None:
    problems = [Problem("spec.gpu.count", "must be >= 0"), Problem("spec.model.repo", "bad")]
    status = planner.invalid_spec_status(ModelDeploymentStatus(), problems, generation=2, now=NOW)
    valid = _condition(status, "SpecValid")
    assert (
        valid.status == "False"
        and "spec.gpu.count" in valid.message
        and "spec.model.repo" in valid.message
    )
    assert status.phase is Phase.FAILED and status.observed_generation == 2


def test_replicas_of_an_older_commit_are_not_counted_ready() -> None:
    old = {**runtime_status("Ready"), "commit": "0" * 40}
    status = _status(spec(replicas=1), replicas=[_replica("p-old", old)])
    assert status.serving_revision == COMMIT_A
    assert status.ready_replicas == 0 and status.phase is not Phase.READY
    assert _condition(status, "Ready").status == "False"
    current = {**runtime_status("Ready"), "commit": COMMIT_A}
    status = _status(spec(replicas=1), replicas=[_replica("p-new", current)])
    assert status.phase is Phase.READY and status.ready_replicas == 1


def test_the_revision_label_tells_the_commit_when_the_runtime_does_not() -> None:
    labelled = pod("p-old")
    labelled["metadata"]["labels"][naming.LABEL_REVISION] = "0" * 12
    replica = planner.Replica(
        PodView.from_pod(labelled), RuntimeReport.from_json(runtime_status("Ready"))
    )
    status = _status(spec(replicas=1), replicas=[replica])
    assert status.ready_replicas == 0 and status.phase is Phase.DEPLOYING


def test_invalid_spec_drops_what_was_observed_of_replicas() -> None:
    previous = _status(
        replicas=[_replica("p1", runtime_status("Ready")), _replica("p2", runtime_status("Ready"))]
    )
    problems = [Problem("spec.gpu.count", "must be >= 0")]
    status = planner.invalid_spec_status(previous, problems, generation=4, now=NOW, replicas=2)
    assert status.phase is Phase.FAILED
    assert status.ready is None and status.ready_replicas == 0 and status.replica_statuses == []
    assert status.placement is None and status.download is None and status.progress is None
    assert status.replicas == 2  # the pods that exist, for the scale subresource
    assert status.resolved_revision == COMMIT_A and status.serving_revision == COMMIT_A
    assert status.timings == previous.timings and status.selector == previous.selector


def test_a_runtime_still_verifying_is_not_reported_as_unverified() -> None:
    # `verified: false` from a runtime that has not got past verification means "not yet".
    status = _status(
        spec(replicas=1), replicas=[_replica("p1", runtime_status("Verifying", verified=False))]
    )
    assert _condition(status, "Verified").reason != "Unverified"
    serving = _status(
        spec(replicas=1), replicas=[_replica("p1", runtime_status("Ready", verified=False))]
    )
    assert _condition(serving, "Verified").reason == "Unverified"


def test_a_crash_kubelet_has_not_reported_yet_keeps_the_runtimes_last_word() -> None:
    # Seen on the real node: the runtime said Failed (FileCorrupt) and exited; until kubelet
    # updates the pod, it still looks running, restarts 0, and nothing answers.
    previous = ModelDeploymentStatus(
        replica_statuses=[
            ReplicaStatus(name="p1", state="Failed", reason="FileCorrupt", message="model.bin")
        ]
    )
    status = _status(spec(replicas=1), replicas=[_replica("p1", ready=False)], previous=previous)
    ready = _condition(status, "Ready")
    assert (ready.status, ready.reason) == ("False", "FileCorrupt")
    fresh = _status(spec(replicas=1), replicas=[_replica("p1", ready=False)])
    assert _condition(fresh, "Ready").reason == "RuntimeUnreachable"


def test_a_suspended_download_says_how_far_it_got() -> None:
    paused_job = FetchView(name="tiny-fetch-aaaaaa-123", commit=COMMIT_A, active=False)
    previous = ModelDeploymentStatus.model_validate(
        {"download": {"bytesDone": 300, "bytesTotal": 1200, "filesDone": 1, "filesTotal": 3}}
    )
    status = _status(
        spec(replicas=1, suspend=True, cache={"size": "1Gi"}), fetch=paused_job, previous=previous
    )
    assert status.phase == "Suspended"
    assert "download paused at 300 of 1200 bytes" in (status.message or "")


def test_while_another_candidate_is_tried_the_serving_one_keeps_the_deployment_ready() -> None:
    the_spec = spec(replicas=1)
    serving = {**runtime_status("Ready"), "commit": COMMIT_B}
    trial = {**runtime_status("Loading"), "commit": COMMIT_A}
    replicas = [_replica("fallback", serving), _replica("trial", trial, ready=False)]
    during = _status(the_spec, replicas=replicas, serving_elsewhere=COMMIT_B)
    assert during.phase is Phase.READY and during.ready_replicas == 1
    assert _condition(during, "Ready").status == "True"
    # A rollout of a new commit of the same model keeps its meaning: not Ready until it is.
    rollout_of_a_commit = _status(the_spec, replicas=replicas)
    assert rollout_of_a_commit.phase is not Phase.READY
