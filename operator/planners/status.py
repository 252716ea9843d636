"""Status from observations: phase, READY, PROGRESS, per-replica states, timings, conditions.

The one rule this module exists for: `Ready=True` (and phase Ready) only when the runtimes
themselves answer /status with state Ready. A pod the kubelet calls Running, or one whose
runtime cannot be asked (Unreachable), is never counted ready. The phase rules live in
`phase`, the condition verdicts in `verdicts`; this module puts the whole status together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from modeldeploy.hub import errors
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
    UsageStatus,
    VerificationStatus,
)
from modeldeploy.operator.api.validation import ENGINE_ARGS_PATH, Problem
from modeldeploy.operator.planners import conditions, memory, naming, phase, verdicts
from modeldeploy.operator.planners.inputs import Replica, ResolveOutcome, StatusInputs
from modeldeploy.operator.planners.observed import FetchView
from modeldeploy.runtime_report import SECONDS_IN, State

__all__ = [
    "Replica",
    "ResolveOutcome",
    "StatusInputs",
    "change_summary",
    "invalid_spec_reason",
    "invalid_spec_status",
    "plan_status",
    "timestamp",
]


def timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def invalid_spec_status(
    previous: ModelDeploymentStatus,
    problems: Sequence[Problem],
    *,
    generation: int,
    now: datetime,
    replicas: int = 0,
) -> ModelDeploymentStatus:
    """A spec the operator cannot act on: Failed, SpecValid=False naming every field.

    The reason is InvalidEngineArgs when every problem is in spec.runtime.engineArgs (the
    same reason a runtime gives for a bad `--engine-arg`), else InvalidSpec.

    A fresh status: what it observed of replicas no longer holds (it stops looking), so
    only what stays true is carried over — the revisions, the verification, the timings —
    and `replicas`, the runtime pods that exist (the scale subresource reads it).
    """
    message = "; ".join(str(p) for p in problems)
    reason = invalid_spec_reason(problems)
    judged = [
        conditions.false(C.SPEC_VALID, reason, message),
        conditions.false(C.READY, reason, message),
    ]
    return ModelDeploymentStatus(
        phase=Phase.FAILED,
        message=f"invalid spec: {message}"[:1000],
        observed_generation=generation,
        resolved_revision=previous.resolved_revision,
        resolved_from=previous.resolved_from,
        short_revision=previous.short_revision,
        serving_revision=previous.serving_revision,
        verification=previous.verification,
        replicas=replicas,
        selector=previous.selector,
        timings=previous.timings,
        conditions=conditions.merge(
            previous.conditions, judged, generation=generation, now=timestamp(now)
        ),
    )


INVALID_SPEC = "InvalidSpec"
INVALID_ENGINE_ARGS = "InvalidEngineArgs"


def invalid_spec_reason(problems: Sequence[Problem]) -> str:
    """InvalidEngineArgs when only the engine arguments are wrong, else InvalidSpec."""
    if problems and all(p.path.startswith(ENGINE_ARGS_PATH) for p in problems):
        return INVALID_ENGINE_ARGS
    return INVALID_SPEC


def plan_status(inp: StatusInputs) -> ModelDeploymentStatus:
    """The whole status for one reconcile."""
    spec, plan = inp.spec, inp.plan
    remembered = {
        r.name: (r.reason, r.message or "")
        for r in inp.previous.replica_statuses or []
        if r.state == State.FAILED and r.reason
    }
    runtime = [
        dataclasses.replace(
            r, last_failure=remembered.get(r.pod.name), estimate_bytes=inp.estimate_bytes
        )
        for r in inp.replicas
        if not r.pod.deleting
    ]
    # Ready counts only replicas of the serving commit: during a rollout the old pods still
    # answer Ready, but servingRevision names a commit they have not loaded.
    elsewhere = inp.serving_elsewhere
    ready = sum(
        1
        for r in runtime
        if r.ready
        and (r.serves(plan.serving_commit) or (elsewhere is not None and r.serves(elsewhere)))
    )
    current, message = phase.with_apply_errors(inp, *phase.phase_of(inp, runtime, ready))
    judged = [
        conditions.true(C.SPEC_VALID, "Valid", f"generation {inp.generation} passed validation"),
        verdicts.resolved(inp.resolve),
        verdicts.fetched(inp, runtime),
        verdicts.verified(inp, runtime),
        verdicts.scheduled(inp, runtime),
        verdicts.ready(inp, runtime, ready),
        verdicts.degraded(inp, runtime, ready),
    ]
    if inp.shared is not None:
        judged.append(verdicts.model_intact(inp.shared))
    advice = _token_advice(spec)
    judged = [
        dataclasses.replace(v, message=errors.with_token_advice(v.message, advice)) for v in judged
    ]
    commit = inp.resolve.commit
    return ModelDeploymentStatus(
        phase=current,
        message=errors.with_token_advice(message, advice)[:1000],
        observed_generation=inp.generation,
        resolved_revision=commit,
        short_revision=naming.short_sha(commit) if commit else None,
        resolved_from=inp.resolve.revision if commit else None,
        serving_revision=plan.serving_commit,
        progress=_progress(inp, runtime, current),
        download=_download(inp, runtime),
        verification=_verification(inp),
        placement=PlacementStatus(
            gpu_product=inp.fit.product if inp.fit else None,
            gpus_per_replica=spec.gpu.count,
            estimated_gpu_memory=memory.quantity(inp.estimate_bytes)
            if inp.estimate_bytes and spec.gpu.count > 0
            else None,
        ),
        replicas=len(runtime),
        ready_replicas=ready,
        ready=f"{ready}/{_wanted(inp)}",
        selector=naming.selector_string(naming.runtime_selector(inp.name)),
        replica_statuses=[
            _advised(r.to_status(), advice) for r in sorted(runtime, key=lambda r: r.pod.name)
        ],
        timings=_timings(inp, runtime),
        cache=inp.shared,
        usage=_usage(inp),
        conditions=conditions.merge(
            inp.previous.conditions, judged, generation=inp.generation, now=timestamp(inp.now)
        ),
    )


def change_summary(
    previous: ModelDeploymentStatus,
    new: ModelDeploymentStatus,
    *,
    changed: Sequence[str],
    written: bool,
) -> str | None:
    """The log line of a reconcile that changed something (None for one that changed
    nothing): the children it changed, the phase it moved to (and why, while not Ready) or
    the status it wrote. Names, phases and reasons only: a message may quote a hub's answer."""
    parts = [f"applied {', '.join(changed)}"] if changed else []
    if written and previous.phase is not new.phase:
        ready = conditions.find(new.conditions, C.READY)
        why = f" ({ready.reason})" if ready and new.phase is not Phase.READY else ""
        parts.append(f"phase {previous.phase.value} -> {new.phase.value}{why}, status written")
    elif written:
        progress = f" {new.progress}" if new.progress else ""
        parts.append(f"status written ({new.phase.value}{progress})")
    return "; ".join(parts) or None


def _wanted(inp: StatusInputs) -> int:
    """The replicas the spec asks for (READY's denominator): those that cannot be placed yet
    are still wanted; a suspended deployment wants none."""
    return 0 if inp.spec.suspend else inp.spec.replicas


def _token_advice(spec: ModelDeploymentSpec) -> str:
    """The hub's advice about tokens in a cluster user's words: the token comes from the
    Secret of spec.model.tokenSecretRef, not from HF_TOKEN."""
    ref = spec.model.token_secret_ref
    if ref is None:
        return "set spec.model.tokenSecretRef to a Secret holding a token"
    return f"make Secret {ref.name} (spec.model.tokenSecretRef, key {ref.key}) hold a token"


def _advised(replica: ReplicaStatus, advice: str) -> ReplicaStatus:
    if not replica.message:
        return replica
    return replica.model_copy(update={"message": errors.with_token_advice(replica.message, advice)})


def _usage(inp: StatusInputs) -> UsageStatus | None:
    """Requests served, once any runtime reported its count (kept across restarts)."""
    tally = inp.usage
    if tally is None or (not tally.baselines and inp.previous.usage is None):
        return inp.previous.usage
    return UsageStatus(requests=tally.requests, last_used=tally.last_used)


def _progress(inp: StatusInputs, runtime: Sequence[Replica], current: Phase) -> str | None:
    if current is Phase.DOWNLOADING:
        download = _download(inp, runtime)
        if download and download.bytes_total:
            return f"{100 * download.bytes_done // download.bytes_total}%"
        return "0%"
    if current in {Phase.VERIFYING, Phase.LOADING, Phase.WARMING_UP}:
        moving = [
            r.report.progress
            for r in runtime
            if r.report.reachable and phase.STATE_PHASE.get(r.state) is current
        ]
        return f"{int(100 * sum(moving) / len(moving))}%" if moving else None
    if current is Phase.DEPLOYING:
        wanted = _wanted(inp)
        started = sum(1 for r in runtime if r.pod.running)
        return f"{100 * min(started, wanted) // wanted}%" if wanted else None
    if current is Phase.READY:
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
        done = fetch.progress or {}
        digest, files = done.get("manifestDigest"), done.get("files")
        return VerificationStatus(
            manifest_digest=digest if isinstance(digest, str) else None,
            files={str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {},
            verified_at=fetch.completed_at,
        )
    return inp.previous.verification


def _timings(inp: StatusInputs, runtime: Sequence[Replica]) -> Timings:
    def slowest(state: State) -> float | None:
        """The longest any runtime spent in `state` (its `timings` key, `SECONDS_IN`)."""
        key = SECONDS_IN[state]
        values = [
            r.report.timings[key] for r in runtime if r.report.reachable and key in r.report.timings
        ]
        return round(max(values), 3) if values else None

    previous = inp.previous.timings or Timings()
    download = _job_seconds(inp.fetch) or slowest(State.FETCHING)
    # Resolve time counts once per rollout (a new commit), not at every periodic re-resolve.
    new_commit = inp.resolve.commit != inp.previous.resolved_revision
    fresh = inp.resolve.seconds is not None and (new_commit or previous.resolve_seconds is None)
    return Timings(
        resolve_seconds=round(inp.resolve.seconds or 0.0, 3) if fresh else previous.resolve_seconds,
        download_seconds=download if download is not None else previous.download_seconds,
        verify_seconds=slowest(State.VERIFYING) or previous.verify_seconds,
        load_seconds=slowest(State.LOADING) or previous.load_seconds,
        warmup_seconds=slowest(State.WARMING_UP) or previous.warmup_seconds,
    )


def _job_seconds(fetch: FetchView | None) -> float | None:
    if fetch is None or not fetch.started_at or not fetch.completed_at:
        return None
    start = datetime.fromisoformat(fetch.started_at.replace("Z", "+00:00"))
    end = datetime.fromisoformat(fetch.completed_at.replace("Z", "+00:00"))
    return max((end - start).total_seconds(), 0.0)
