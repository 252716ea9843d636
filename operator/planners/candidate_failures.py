"""Why a candidate model cannot serve, judged from what was seen of it (pure).

`cheap_failure` judges what every candidate gets each reconcile (its resolve, its placement);
`judge` adds what only the candidate the Deployment carries shows (its fetch, its replicas).
A failure is permanent when waiting will not fix it: the fallback planner
(planners/fallback.py) then moves to the next candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modeldeploy.operator.api.status import CandidateStatus
from modeldeploy.operator.planners.inputs import Replica
from modeldeploy.operator.planners.observed import RUNTIME_UNREACHABLE, FetchView
from modeldeploy.runtime_report import Reason

CRASH_LOOP_RESTARTS = 3
CRASH_LOOP_WINDOW_SECONDS = 600.0
"""Runtimes crash-loop when each restarted CRASH_LOOP_RESTARTS times within this window."""
NOT_THE_MODEL = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        RUNTIME_UNREACHABLE,
    }
)
"""Replica failures no other model would avoid (the image, the pod's configuration)."""
TRANSIENT_FETCH = frozenset({"NetworkError", "Stalled", "Interrupted", "Locked", "Throttled"})
"""Fetch failures that waiting can fix: the same candidate is retried, with backoff."""
BLOCKED_BY_CAPACITY = "BlockedByCapacity"


@dataclass(frozen=True)
class Failure:
    reason: str
    message: str
    permanent: bool
    """Waiting will not fix it (not found, gated, no fitting GPU, a load that fails...)."""


def cheap_failure(
    resolve_error: tuple[str, str] | None,
    retryable: bool,
    *,
    fits: bool | None,
    fit_message: str = "",
) -> Failure | None:
    """A candidate's resolve and placement, judged: what every candidate gets each time."""
    if resolve_error is not None:
        return Failure(resolve_error[0], resolve_error[1], permanent=not retryable)
    if fits is False:
        return Failure("NoFittingGPUNode", fit_message, permanent=True)
    return None


def expected_task(declared: str, statuses: Sequence[CandidateStatus]) -> str | None:
    """The task every candidate must serve: the spec's, or with `auto` the preferred
    model's (the first candidate whose runtimes reported one, when it never ran)."""
    if declared != "auto":
        return declared
    return next((s.task for s in statuses if s.task), None)


def judge(
    cheap: Failure | None,
    *,
    fetch: FetchView | None,
    corrupted: str | None,
    replicas: Sequence[Replica],
    others_serve: bool,
    task: str | None = None,
    crash_looping: frozenset[str] = frozenset(),
) -> Failure | None:
    """The candidate the Deployment carries: its cheap failure, else its fetch, else its
    replicas (`replicas`: those running its commit; `task`: the one it must serve;
    `crash_looping`: the pods seen restarting CRASH_LOOP_RESTARTS times in the window)."""
    if cheap is not None:
        return cheap
    served = {r.report.task for r in replicas if r.report.reachable and r.report.task}
    if task and served and served != {task}:
        return Failure(
            Reason.TASK_MISMATCH,
            f"its runtimes serve {', '.join(sorted(served))}; this deployment serves {task}",
            permanent=True,
        )
    if fetch is not None and fetch.failed_finally and fetch.error:
        reason, text = fetch.error
        return Failure(reason, text, permanent=reason not in TRANSIENT_FETCH)
    if corrupted:
        return Failure("ChecksumMismatch", corrupted, permanent=True)
    ran = [r for r in replicas if r.pod.scheduled is not False and not r.pod.deleting]
    if replicas and not ran and others_serve:
        pod = replicas[0].pod
        message = pod.unschedulable_message or "no room for the extra replica"
        return Failure(BLOCKED_BY_CAPACITY, f"{pod.name}: {message}", permanent=False)
    if not ran or any(r.ready for r in ran):
        return None
    failures = [r.failure for r in ran]
    if all(f is not None for f in failures):
        reasons = {f[0] for f in failures if f is not None}
        first = next(f for f in failures if f is not None)
        if len(reasons) == 1 and first[0] not in NOT_THE_MODEL:
            return Failure(first[0], f"every replica: {first[1]}", permanent=True)
    if all(r.pod.name in crash_looping for r in ran):
        minutes = round(CRASH_LOOP_WINDOW_SECONDS / 60)
        return Failure(
            "CrashLoop",
            f"every replica restarted {CRASH_LOOP_RESTARTS} times within {minutes} minutes",
            permanent=True,
        )
    return None


@dataclass
class Restarts:
    """When one pod's restarts were seen (monotonic seconds), for `crash_looping`."""

    count: int
    seen: list[float]


def crash_looping(
    history: dict[str, Restarts], pods: Sequence[tuple[str, int]], now: float
) -> frozenset[str]:
    """The pods (name, restart count) that restarted CRASH_LOOP_RESTARTS times within the
    window, as far as the looks recorded in `history` (updated in place: pods gone are
    dropped) saw it; a pod first seen has no restarts in the window yet."""
    looping = set()
    for name, restarts in pods:
        entry = history.get(name) or Restarts(restarts, [])
        if restarts > entry.count:
            entry.seen.extend([now] * (restarts - entry.count))
        entry.count = restarts
        entry.seen = [t for t in entry.seen if now - t <= CRASH_LOOP_WINDOW_SECONDS]
        history[name] = entry
        if len(entry.seen) >= CRASH_LOOP_RESTARTS:
            looping.add(name)
    for gone in set(history) - {name for name, _ in pods}:
        del history[gone]
    return frozenset(looping)
