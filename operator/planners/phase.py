"""The phase and its one-line message: the single word `kubectl get mdep` shows.

Rules, in order: suspended; no commit yet; a fetch that failed for good; a cached commit not
yet fetched; nothing fits; zero replicas; then the replicas (all Ready, a failure,
unschedulable pods, else the least advanced replica's state).
"""

from __future__ import annotations

from collections.abc import Sequence

from modeldeploy.operator.api.status import Phase
from modeldeploy.operator.planners.inputs import Replica, StatusInputs, first_failure
from modeldeploy.operator.planners.observed import PENDING, UNREACHABLE
from modeldeploy.runtime_report import State

STATE_PHASE: dict[str, Phase] = {
    PENDING: Phase.DEPLOYING,
    UNREACHABLE: Phase.DEPLOYING,
    State.STARTING: Phase.DEPLOYING,
    State.FETCHING: Phase.DOWNLOADING,
    State.VERIFYING: Phase.VERIFYING,
    State.LOADING: Phase.LOADING,
    State.WARMING_UP: Phase.WARMING_UP,
    State.READY: Phase.READY,
    State.DRAINING: Phase.DEPLOYING,
    State.FAILED: Phase.FAILED,  # a failed replica is judged by its failure before this table
}
"""The phase a replica's state shows: every runtime `State`, and the operator's own two."""
STATE_ORDER: list[str] = [
    State.FAILED,
    PENDING,
    UNREACHABLE,
    State.STARTING,
    State.DRAINING,
    State.FETCHING,
    State.VERIFYING,
    State.LOADING,
    State.WARMING_UP,
    State.READY,
]
"""Least advanced first: the phase shows the replica furthest from serving."""


def _paused(inp: StatusInputs) -> str:
    """A download this suspension paused: how far it got (resuming continues from there)."""
    fetch = inp.fetch
    if fetch is None or fetch.succeeded or fetch.failed_finally:
        return ""
    if inp.shared is not None:
        return "; the shared download pauses unless another deployment wants it"
    doc, last = fetch.progress or {}, inp.previous.download
    done = int(doc.get("bytesDone") or (last.bytes_done if last else 0))
    total = int(doc.get("bytesTotal") or (last.bytes_total if last else 0))
    of = f" of {total}" if total else ""
    return f"; download paused at {done}{of} bytes (resuming continues from the partial files)"


def phase_of(inp: StatusInputs, runtime: Sequence[Replica], ready: int) -> tuple[Phase, str]:
    spec, plan, resolve, fetch = inp.spec, inp.plan, inp.resolve, inp.fetch
    if spec.suspend:
        kept = ", cache kept" if spec.cache is not None else ""
        return Phase.SUSPENDED, f"suspended: scaled to zero{kept}" + _paused(inp)
    if resolve.commit is None:
        if resolve.error and not resolve.retryable:
            return Phase.FAILED, f"{resolve.error[0]}: {resolve.error[1]}"
        return Phase.RESOLVING, f"resolving {spec.model.repo}@{resolve.revision}" + (
            f" (retrying: {resolve.error[1]})" if resolve.error else ""
        )
    if fetch is not None and fetch.failed_finally and fetch.error:
        reason, text = fetch.error
        return (
            Phase.DEGRADED if ready else Phase.FAILED
        ), f"fetch of {resolve.commit[:12]} failed: {reason}: {text}"
    if inp.shared is not None and inp.shared.state is None and plan.serving_commit is None:
        return Phase.PENDING, inp.shared.message or f"waiting for ModelCache {inp.shared.name}"
    if spec.cache is not None and plan.serving_commit != resolve.commit:
        return Phase.DOWNLOADING, f"fetching {spec.model.repo}@{resolve.commit[:12]} into the cache"
    if inp.fit is not None and not inp.fit.fits:
        return Phase.PENDING, f"NoFittingGPUNode: {inp.fit.message}"
    if plan.replicas == 0:
        return Phase.PENDING, "scaled to zero replicas"
    return _replica_phase(runtime, ready, plan.replicas)


def with_apply_errors(inp: StatusInputs, phase: Phase, message: str) -> tuple[Phase, str]:
    """A child the API server refused: serving replicas are Degraded, the rest say why."""
    if not inp.apply_errors:
        return phase, message
    refused = f"ApplyFailed: {inp.apply_errors[0]}"
    if phase is Phase.READY:
        return Phase.DEGRADED, refused
    return phase, f"{message}; {refused}"


def _replica_phase(runtime: Sequence[Replica], ready: int, desired: int) -> tuple[Phase, str]:
    failed = first_failure(runtime)
    unschedulable = [r for r in runtime if r.pod.scheduled is False]
    if ready >= desired:
        return Phase.READY, f"{ready}/{desired} runtimes report Ready"
    if failed:
        replica, (reason, text) = failed
        return (Phase.DEGRADED if ready else Phase.FAILED), f"{replica.pod.name}: {reason}: {text}"
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
    if slowest.awaiting_probe:
        return Phase.DEPLOYING, (
            f"{ready}/{desired} runtimes Ready; {slowest.pod.name} reports Ready, kubelet's "
            "readiness probe has not passed"
        )
    return STATE_PHASE.get(
        slowest.state, Phase.DEPLOYING
    ), f"{ready}/{desired} runtimes Ready; {slowest.pod.name} is {slowest.state}"
