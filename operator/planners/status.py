"""Status from observations: phase, READY, PROGRESS, per-replica states, timings, conditions.

The one rule this module exists for: `Ready=True` (and phase Ready) only when the runtimes
themselves answer /status with state Ready. A pod the kubelet calls Running, or one whose
runtime cannot be asked (Unreachable), is never counted ready.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from modeldeploy.operator.api.spec import ModelDeploymentSpec
from modeldeploy.operator.api.status import (
    ConditionType as C,
)
from modeldeploy.operator.api.status import (
    DownloadStatus,
    ModelDeploymentStatus,
    Phase,
    PlacementStatus,
    ReplicaStatus,
    Timings,
    VerificationStatus,
)
from modeldeploy.operator.api.validation import Problem
from modeldeploy.operator.planners import conditions, memory, naming
from modeldeploy.operator.planners.conditions import Verdict
from modeldeploy.operator.planners.observed import (
    PENDING,
    UNREACHABLE,
    FetchView,
    PodView,
    RuntimeReport,
)
from modeldeploy.operator.planners.placement import Fit
from modeldeploy.operator.planners.rollout import Plan

STATE_PHASE = {
    "Starting": Phase.DEPLOYING,
    PENDING: Phase.DEPLOYING,
    UNREACHABLE: Phase.DEPLOYING,
    "Fetching": Phase.DOWNLOADING,
    "Verifying": Phase.VERIFYING,
    "Loading": Phase.LOADING,
    "WarmingUp": Phase.WARMING_UP,
    "Draining": Phase.DEPLOYING,
    "Ready": Phase.READY,
}
STATE_ORDER = [
    "Pending",
    "Unreachable",
    "Starting",
    "Draining",
    "Fetching",
    "Verifying",
    "Loading",
    "WarmingUp",
    "Ready",
]
PAST_FETCH = {"Verifying", "Loading", "WarmingUp", "Ready"}
PAST_VERIFY = {"Loading", "WarmingUp", "Ready"}
VERIFY_REASONS = {
    "ChecksumMismatch",
    "FileCorrupt",
    "SizeMismatch",
    "ManifestMissing",
    "FileMissing",
    "VerificationFailed",
    "ManifestInvalid",
}


@dataclass(frozen=True)
class ResolveOutcome:
    """The latest resolve: the commit (possibly from before) and the error of this attempt."""

    commit: str | None
    revision: str
    error: tuple[str, str] | None = None
    retryable: bool = False
    seconds: float | None = None


@dataclass(frozen=True)
class Replica:
    pod: PodView
    report: RuntimeReport

    @property
    def state(self) -> str:
        if self.report.reachable:
            return self.report.state
        return UNREACHABLE if self.pod.running else PENDING

    @property
    def ready(self) -> bool:
        return self.report.reachable and self.report.state == "Ready" and not self.pod.deleting

    @property
    def failure(self) -> tuple[str, str] | None:
        if self.report.reachable and self.report.state == "Failed":
            return self.report.reason or "RuntimeFailed", self.report.message or ""
        return self.pod.failure

    def to_status(self) -> ReplicaStatus:
        failure = self.failure
        reason, message = failure if failure else (None, None)
        if failure is None and not self.report.reachable:
            reason, message = (
                ("Unschedulable", self.pod.unschedulable_message)
                if self.pod.scheduled is False
                else (self.report.reason, self.report.message)
            )
        return ReplicaStatus(
            name=self.pod.name,
            node=self.pod.node,
            state="Failed" if failure else self.state,
            progress=self.report.progress if self.report.reachable else 0.0,
            ready=self.ready,
            reason=reason,
            message=message,
            restarts=self.pod.restarts,
        )


@dataclass(frozen=True)
class StatusInputs:
    name: str
    generation: int
    spec: ModelDeploymentSpec
    previous: ModelDeploymentStatus
    plan: Plan
    resolve: ResolveOutcome
    fetch: FetchView | None
    replicas: Sequence[Replica]
    fit: Fit | None
    estimate_bytes: int | None
    now: datetime


def timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def invalid_spec_status(
    previous: ModelDeploymentStatus, problems: Sequence[Problem], *, generation: int, now: datetime
) -> ModelDeploymentStatus:
    """A spec the operator cannot act on: Failed, SpecValid=False naming every field."""
    message = "; ".join(str(p) for p in problems)
    verdicts = [
        conditions.false(C.SPEC_VALID, "InvalidSpec", message),
        conditions.false(C.READY, "InvalidSpec", message),
    ]
    status = previous.model_copy(deep=True)
    status.phase, status.message, status.progress = (
        Phase.FAILED,
        f"invalid spec: {message}"[:1000],
        None,
    )
    status.observed_generation = generation
    status.conditions = conditions.merge(
        previous.conditions, verdicts, generation=generation, now=timestamp(now)
    )
    return status


def plan_status(inp: StatusInputs) -> ModelDeploymentStatus:
    """The whole status for one reconcile."""
    spec, plan = inp.spec, inp.plan
    runtime = [r for r in inp.replicas if not r.pod.deleting]
    ready = sum(1 for r in runtime if r.ready)
    phase, message = _phase(inp, runtime, ready)
    verdicts = [
        conditions.true(C.SPEC_VALID, "Valid"),
        _resolved(inp.resolve),
        _fetched(inp, runtime),
        _verified(inp, runtime),
        _scheduled(inp, runtime),
        _ready(inp, runtime, ready),
        _degraded(inp, runtime, ready),
    ]
    commit = inp.resolve.commit
    return ModelDeploymentStatus(
        phase=phase,
        message=message[:1000],
        observed_generation=inp.generation,
        resolved_revision=commit,
        short_revision=naming.short_sha(commit) if commit else None,
        resolved_from=inp.resolve.revision if commit else None,
        serving_revision=plan.serving_commit,
        progress=_progress(inp, runtime, phase),
        download=_download(inp, runtime),
        verification=_verification(inp),
        placement=PlacementStatus(
            gpu_product=inp.fit.product if inp.fit else None,
            gpus_per_replica=spec.gpu.count,
            estimated_gpu_memory=memory.quantity(inp.estimate_bytes)
            if inp.estimate_bytes
            else None,
        ),
        replicas=len(runtime),
        ready_replicas=ready,
        ready=f"{ready}/{plan.replicas}",
        selector=naming.selector_string(naming.runtime_selector(inp.name)),
        replica_statuses=[r.to_status() for r in sorted(runtime, key=lambda r: r.pod.name)],
        timings=_timings(inp, runtime),
        conditions=conditions.merge(
            inp.previous.conditions, verdicts, generation=inp.generation, now=timestamp(inp.now)
        ),
    )


def _phase(inp: StatusInputs, runtime: Sequence[Replica], ready: int) -> tuple[Phase, str]:
    spec, plan, resolve, fetch = inp.spec, inp.plan, inp.resolve, inp.fetch
    if spec.suspend:
        return Phase.SUSPENDED, "suspended: scaled to zero, cache kept"
    if resolve.commit is None:
        if resolve.error and not resolve.retryable:
            return Phase.FAILED, f"{resolve.error[0]}: {resolve.error[1]}"
        return Phase.RESOLVING, f"resolving {spec.model.repo}@{resolve.revision}" + (
            f" (retrying: {resolve.error[1]})" if resolve.error else ""
        )
    if fetch is not None and fetch.error and not fetch.succeeded and not fetch.active:
        reason, text = fetch.error
        return (
            Phase.DEGRADED if ready else Phase.FAILED
        ), f"fetch of {resolve.commit[:12]} failed: {reason}: {text}"
    if spec.cache is not None and plan.serving_commit != resolve.commit:
        return Phase.DOWNLOADING, f"fetching {spec.model.repo}@{resolve.commit[:12]} into the cache"
    if inp.fit is not None and not inp.fit.fits:
        return Phase.PENDING, f"NoFittingGPUNode: {inp.fit.message}"
    if plan.replicas == 0:
        return Phase.PENDING, "scaled to zero replicas"
    return _replica_phase(runtime, ready, plan.replicas)


def _replica_phase(runtime: Sequence[Replica], ready: int, desired: int) -> tuple[Phase, str]:
    failed = [r for r in runtime if r.failure]
    unschedulable = [r for r in runtime if r.pod.scheduled is False]
    if ready >= desired:
        return Phase.READY, f"{ready}/{desired} runtimes report Ready"
    if failed:
        reason, text = failed[0].failure or ("", "")
        return (
            Phase.DEGRADED if ready else Phase.FAILED
        ), f"{failed[0].pod.name}: {reason}: {text}"
    if unschedulable:
        pod = unschedulable[0].pod
        return (
            Phase.DEGRADED if ready else Phase.PENDING
        ), f"{pod.name} unschedulable: {pod.unschedulable_message or ''}"
    waiting = [r for r in runtime if not r.ready]
    if not waiting:
        return Phase.DEPLOYING, f"{ready}/{desired} runtimes Ready; waiting for pods"
    slowest = min(
        waiting, key=lambda r: STATE_ORDER.index(r.state) if r.state in STATE_ORDER else 0
    )
    return STATE_PHASE.get(
        slowest.state, Phase.DEPLOYING
    ), f"{ready}/{desired} runtimes Ready; {slowest.pod.name} is {slowest.state}"


def _resolved(resolve: ResolveOutcome) -> Verdict:
    if resolve.commit is not None:
        return conditions.true(
            C.RESOLVED, "Resolved", f"{resolve.revision} is commit {resolve.commit}"
        )
    if resolve.error is not None:
        return conditions.false(C.RESOLVED, resolve.error[0], resolve.error[1])
    return conditions.unknown(C.RESOLVED, "Resolving", f"resolving {resolve.revision}")


def _fetched(inp: StatusInputs, runtime: Sequence[Replica]) -> Verdict:
    fetch = inp.fetch
    if inp.spec.cache is not None:
        if fetch is None:
            return conditions.unknown(
                C.FETCHED, "WaitingForCommit", "the revision is not resolved yet"
            )
        if fetch.succeeded:
            return conditions.true(
                C.FETCHED, "FetchJobSucceeded", f"job {fetch.name} filled the cache"
            )
        if fetch.error and not fetch.active:
            return conditions.false(C.FETCHED, *fetch.error)
        return conditions.false(
            C.FETCHED, "Downloading", f"job {fetch.name} is fetching {fetch.commit[:12]}"
        )
    failed = [r.failure for r in runtime if r.failure and r.state in {"Fetching", "Failed"}]
    if any(r.report.reachable and r.report.state in PAST_FETCH for r in runtime):
        return conditions.true(
            C.FETCHED, "FetchedByRuntime", "a replica fetched and verified the model itself"
        )
    if failed and failed[0]:
        return conditions.false(C.FETCHED, *failed[0])
    return conditions.unknown(
        C.FETCHED, "PerPodFetch", "each replica fetches the model itself (no cache)"
    )


def _verified(inp: StatusInputs, runtime: Sequence[Replica]) -> Verdict:
    for replica in runtime:
        failure = replica.failure
        if failure and failure[0] in VERIFY_REASONS:
            return conditions.false(C.VERIFIED, failure[0], f"{replica.pod.name}: {failure[1]}")
    if inp.fetch is not None and inp.fetch.error and inp.fetch.error[0] in VERIFY_REASONS:
        return conditions.false(C.VERIFIED, *inp.fetch.error)
    if any(r.report.reachable and r.report.verified is False for r in runtime):
        return conditions.false(
            C.VERIFIED, "Unverified", "a runtime serves files without a manifest"
        )
    if inp.fetch is not None and inp.fetch.succeeded:
        return conditions.true(
            C.VERIFIED, "VerifiedAtFetch", "every file matched its expected sha256 when fetched"
        )
    if any(
        r.report.reachable and r.report.state in PAST_VERIFY and r.report.verified for r in runtime
    ):
        return conditions.true(
            C.VERIFIED, "VerifiedByRuntime", "a runtime verified the files against the manifest"
        )
    return conditions.unknown(C.VERIFIED, "NotVerifiedYet", "no verified copy of the model yet")


def _scheduled(inp: StatusInputs, runtime: Sequence[Replica]) -> Verdict:
    if inp.fit is not None and not inp.fit.fits:
        return conditions.false(C.SCHEDULED, "NoFittingGPUNode", inp.fit.message)
    unschedulable = [r.pod for r in runtime if r.pod.scheduled is False]
    if unschedulable:
        pod = unschedulable[0]
        return conditions.false(
            C.SCHEDULED,
            "Unschedulable",
            f"{pod.name}: {pod.unschedulable_message or 'no node fits'}",
        )
    placed = [r.pod for r in runtime if r.pod.node]
    if inp.plan.replicas > 0 and len(placed) >= inp.plan.replicas:
        nodes = ", ".join(sorted({p.node for p in placed if p.node}))
        return conditions.true(
            C.SCHEDULED, "Scheduled", f"{len(placed)} replicas placed on {nodes}"
        )
    if inp.plan.replicas == 0:
        return conditions.unknown(C.SCHEDULED, "NoReplicas", "no replicas are wanted")
    return conditions.unknown(
        C.SCHEDULED, "Pending", f"{len(placed)}/{inp.plan.replicas} replicas placed"
    )


def _ready(inp: StatusInputs, runtime: Sequence[Replica], ready: int) -> Verdict:
    desired = inp.plan.replicas
    if inp.spec.suspend:
        return conditions.false(C.READY, "Suspended", "spec.suspend is true")
    if desired > 0 and ready >= desired:
        return conditions.true(C.READY, "RuntimesReady", f"{ready}/{desired} runtimes report Ready")
    if inp.fit is not None and not inp.fit.fits:
        return conditions.false(C.READY, "NoFittingGPUNode", inp.fit.message)
    if desired == 0:
        return conditions.false(C.READY, "NoReplicas", "no replicas are wanted")
    unreachable = [r for r in runtime if r.state == UNREACHABLE and not r.failure]
    failed = [r for r in runtime if r.failure]
    if failed:
        reason, text = failed[0].failure or ("RuntimeFailed", "")
        return conditions.false(
            C.READY, reason, f"{ready}/{desired} Ready; {failed[0].pod.name}: {text}"
        )
    if unreachable:
        why = unreachable[0].report.message or "no answer"
        return conditions.false(
            C.READY,
            "RuntimeUnreachable",
            f"{ready}/{desired} Ready; {unreachable[0].pod.name}: {why}",
        )
    return conditions.false(C.READY, "RuntimesNotReady", f"{ready}/{desired} runtimes report Ready")


def _degraded(inp: StatusInputs, runtime: Sequence[Replica], ready: int) -> Verdict:
    failed = [r for r in runtime if r.failure]
    if failed:
        reason, text = failed[0].failure or ("RuntimeFailed", "")
        return conditions.true(C.DEGRADED, reason, f"{failed[0].pod.name}: {text}")
    fetch = inp.fetch
    if fetch is not None and fetch.error and not fetch.active and not fetch.succeeded:
        return conditions.true(C.DEGRADED, fetch.error[0], fetch.error[1])
    if ready and any(r.pod.scheduled is False for r in runtime):
        return conditions.true(C.DEGRADED, "Unschedulable", "some replicas cannot be placed")
    return conditions.false(C.DEGRADED, "AsExpected", "no failures observed")


def _progress(inp: StatusInputs, runtime: Sequence[Replica], phase: Phase) -> str | None:
    if phase is Phase.DOWNLOADING:
        download = _download(inp, runtime)
        if download and download.bytes_total:
            return f"{100 * download.bytes_done // download.bytes_total}%"
        return "0%"
    if phase in {Phase.VERIFYING, Phase.LOADING, Phase.WARMING_UP}:
        moving = [
            r.report.progress
            for r in runtime
            if r.report.reachable and STATE_PHASE.get(r.state) is phase
        ]
        return f"{int(100 * sum(moving) / len(moving))}%" if moving else None
    if phase is Phase.READY:
        return "100%"
    return None


def _download(inp: StatusInputs, runtime: Sequence[Replica]) -> DownloadStatus | None:
    doc = inp.fetch.progress if inp.fetch is not None else None
    if doc is None:
        doc = next(
            (r.report.download for r in runtime if r.report.reachable and r.report.download), None
        )
    if not doc or doc.get("event") == "error":
        return inp.previous.download
    eta = doc.get("etaSeconds")
    return DownloadStatus(
        bytes_done=int(doc.get("bytesDone") or 0),
        bytes_total=int(doc.get("bytesTotal") or 0),
        files_done=int(doc.get("filesDone") or 0),
        files_total=int(doc.get("filesTotal") or 0),
        bytes_per_second=float(doc.get("bytesPerSecond") or 0.0),
        eta_seconds=float(eta) if eta is not None else None,
    )


def _verification(inp: StatusInputs) -> VerificationStatus | None:
    fetch = inp.fetch
    if fetch is not None and fetch.succeeded:
        digest = (fetch.progress or {}).get("manifestDigest")
        return VerificationStatus(
            manifest_digest=digest if isinstance(digest, str) else None,
            verified_at=fetch.completed_at,
        )
    return inp.previous.verification


def _timings(inp: StatusInputs, runtime: Sequence[Replica]) -> Timings:
    def slowest(key: str) -> float | None:
        values = [
            r.report.timings[key] for r in runtime if r.report.reachable and key in r.report.timings
        ]
        return round(max(values), 3) if values else None

    previous = inp.previous.timings or Timings()
    download = _job_seconds(inp.fetch) or slowest("fetchSeconds")
    # Resolve time counts once per rollout (a new commit), not at every periodic re-resolve.
    new_commit = inp.resolve.commit != inp.previous.resolved_revision
    fresh = inp.resolve.seconds is not None and (new_commit or previous.resolve_seconds is None)
    return Timings(
        resolve_seconds=round(inp.resolve.seconds or 0.0, 3) if fresh else previous.resolve_seconds,
        download_seconds=download if download is not None else previous.download_seconds,
        verify_seconds=slowest("verifySeconds") or previous.verify_seconds,
        load_seconds=slowest("loadSeconds") or previous.load_seconds,
        warmup_seconds=slowest("warmupSeconds") or previous.warmup_seconds,
    )


def _job_seconds(fetch: FetchView | None) -> float | None:
    if fetch is None or not fetch.started_at or not fetch.completed_at:
        return None
    start = datetime.fromisoformat(fetch.started_at.replace("Z", "+00:00"))
    end = datetime.fromisoformat(fetch.completed_at.replace("Z", "+00:00"))
    return max((end - start).total_seconds(), 0.0)
