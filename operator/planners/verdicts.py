"""One verdict per condition type (Resolved, Fetched, Verified, Scheduled, Ready, Degraded).

Each function judges one condition from the same inputs; `conditions.merge` then attaches
the times. The reasons here are the ones documented in docs/operator.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from modeldeploy.hub import console
from modeldeploy.hub.errors import FetchReason
from modeldeploy.operator.api.status import CachedModelState, SharedCacheStatus
from modeldeploy.operator.api.status import ConditionType as C
from modeldeploy.operator.planners import conditions
from modeldeploy.operator.planners.conditions import Verdict
from modeldeploy.operator.planners.inputs import (
    Replica,
    ResolveOutcome,
    StatusInputs,
    first_failure,
)
from modeldeploy.operator.planners.observed import RUNTIME_UNREACHABLE, UNREACHABLE
from modeldeploy.runtime_report import Reason, State, beyond

PAST_FETCH = beyond(State.FETCHING)
PAST_VERIFY = beyond(State.VERIFYING) | {State.DRAINING}
VERIFY_REASONS = frozenset(
    {
        FetchReason.ChecksumMismatch,
        Reason.FILE_CORRUPT,
        Reason.SIZE_MISMATCH,
        Reason.MANIFEST_MISSING,
        Reason.FILE_MISSING,
        FetchReason.VerificationFailed,
        FetchReason.ManifestInvalid,
    }
)


def resolved(resolve: ResolveOutcome) -> Verdict:
    if resolve.commit is not None:
        return conditions.true(
            C.RESOLVED, "Resolved", f"{resolve.revision} is commit {resolve.commit}"
        )
    if resolve.error is not None:
        return conditions.false(C.RESOLVED, resolve.error[0], resolve.error[1])
    return conditions.unknown(C.RESOLVED, "Resolving", f"resolving {resolve.revision}")


def fetched(inp: StatusInputs, runtime: Sequence[Replica]) -> Verdict:
    fetch = inp.fetch
    if inp.shared is not None:
        return _fetched_into_model_cache(inp)
    if inp.spec.cache is not None:
        if fetch is None:
            return conditions.unknown(
                C.FETCHED, "WaitingForCommit", "the revision is not resolved yet"
            )
        if fetch.succeeded:
            return conditions.true(
                C.FETCHED, "FetchJobSucceeded", f"job {fetch.name} filled the cache"
            )
        if fetch.failed_finally and fetch.error:
            return conditions.false(C.FETCHED, *fetch.error)
        return conditions.false(
            C.FETCHED, "Downloading", f"job {fetch.name} is fetching {fetch.commit[:12]}"
        )
    failed = [r.failure for r in runtime if r.failure and r.state in {State.FETCHING, State.FAILED}]
    if any(r.report.reachable and r.report.state in PAST_FETCH for r in runtime):
        return conditions.true(
            C.FETCHED, "FetchedByRuntime", "a replica fetched and verified the model itself"
        )
    if failed and failed[0]:
        return conditions.false(C.FETCHED, *failed[0])
    return conditions.unknown(
        C.FETCHED, "PerPodFetch", "each replica fetches the model itself (no cache)"
    )


def _fetched_into_model_cache(inp: StatusInputs) -> Verdict:
    shared, fetch = inp.shared, inp.fetch
    assert shared is not None
    where = f"ModelCache {shared.name}"
    if shared.state is None and shared.message and "does not exist" in shared.message:
        return conditions.false(C.FETCHED, "ModelCacheNotFound", shared.message)
    if fetch is None:
        return conditions.unknown(C.FETCHED, "WaitingForCommit", "the revision is not resolved yet")
    if fetch.succeeded:
        return conditions.true(C.FETCHED, "InModelCache", f"{where} holds {shared.directory}")
    if fetch.failed_finally and fetch.error:
        return conditions.false(C.FETCHED, *fetch.error)
    return conditions.false(C.FETCHED, "Downloading", f"{where} is fetching {shared.directory}")


def model_intact(shared: SharedCacheStatus) -> Verdict:
    """With spec.cache.name: whether the directory's bytes still match their hashes."""
    state = shared.state
    where = f"ModelCache {shared.name}, {shared.directory}"
    if state is CachedModelState.CORRUPTED:
        return conditions.false(C.MODEL_INTACT, "ModelCorrupted", f"{where}: {shared.message}")
    if state is CachedModelState.REPAIRING:
        return conditions.false(C.MODEL_INTACT, "Repairing", f"{where}: {shared.message}")
    if state is CachedModelState.VERIFIED:
        return conditions.true(C.MODEL_INTACT, "Verified", f"{where}: every file matches")
    return conditions.unknown(
        C.MODEL_INTACT, "NotVerifiedYet", f"{where}: {state.value if state else 'not held yet'}"
    )


def verified(inp: StatusInputs, runtime: Sequence[Replica]) -> Verdict:
    for replica in runtime:
        failure = replica.failure
        if failure and failure[0] in VERIFY_REASONS:
            return conditions.false(C.VERIFIED, failure[0], f"{replica.pod.name}: {failure[1]}")
    if inp.fetch is not None and inp.fetch.error and inp.fetch.error[0] in VERIFY_REASONS:
        return conditions.false(C.VERIFIED, *inp.fetch.error)
    # `verified: false` before a runtime got past verification means "not yet", not
    # "without a manifest".
    if any(
        r.report.reachable and r.report.state in PAST_VERIFY and r.report.verified is False
        for r in runtime
    ):
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


def scheduled(inp: StatusInputs, runtime: Sequence[Replica]) -> Verdict:
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
        replicas = console.counted(len(placed), "replica")
        return conditions.true(C.SCHEDULED, "Scheduled", f"{replicas} placed on {nodes}")
    if inp.plan.replicas == 0:
        return conditions.unknown(C.SCHEDULED, "NoReplicas", "no replicas are wanted")
    return conditions.unknown(
        C.SCHEDULED, "Pending", f"{len(placed)}/{inp.plan.replicas} replicas placed"
    )


def ready(inp: StatusInputs, runtime: Sequence[Replica], ready: int) -> Verdict:
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
    failed = first_failure(runtime)
    if failed:
        replica, (reason, text) = failed
        return conditions.false(
            C.READY, reason, f"{ready}/{desired} Ready; {replica.pod.name}: {text}"
        )
    awaiting = [r for r in runtime if r.awaiting_probe]
    if awaiting:
        return conditions.false(
            C.READY,
            "WaitingForReadinessProbe",
            f"{ready}/{desired} Ready; {awaiting[0].pod.name}: the runtime reports Ready but "
            "kubelet's readiness probe has not passed, so the Service does not route to it",
        )
    if unreachable:
        why = unreachable[0].report.message or "no answer"
        return conditions.false(
            C.READY,
            RUNTIME_UNREACHABLE,
            f"{ready}/{desired} Ready; {unreachable[0].pod.name}: {why}",
        )
    return conditions.false(C.READY, "RuntimesNotReady", f"{ready}/{desired} runtimes report Ready")


def degraded(inp: StatusInputs, runtime: Sequence[Replica], ready: int) -> Verdict:
    if inp.apply_errors:
        return conditions.true(C.DEGRADED, "ApplyFailed", "; ".join(inp.apply_errors))
    failed = first_failure(runtime)
    if failed:
        replica, (reason, text) = failed
        return conditions.true(C.DEGRADED, reason, f"{replica.pod.name}: {text}")
    fetch = inp.fetch
    if fetch is not None and fetch.failed_finally and fetch.error:
        return conditions.true(C.DEGRADED, *fetch.error)
    resolve = inp.resolve
    if resolve.commit is None and resolve.error and not resolve.retryable:
        return conditions.true(C.DEGRADED, *resolve.error)  # Failed: nothing to serve
    if ready and any(r.pod.scheduled is False for r in runtime):
        return conditions.true(C.DEGRADED, "Unschedulable", "some replicas cannot be placed")
    return conditions.false(C.DEGRADED, "AsExpected", "no failures observed")
