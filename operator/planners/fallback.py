"""Which candidate model the replicas run: spec.model when it can serve, else the best of
spec.fallbacks that can; and what status says of each candidate. Pure: no I/O.

Candidate 0 is spec.model, candidate i is spec.fallbacks[i-1]. Each reconcile:
1. every candidate gets a cheap look (its resolve and, with GPUs, its own size estimate and
   placement); the candidate the Deployment carries also gets a deep one (its fetch, its
   replicas): `candidate_failures.judge`;
2. `pick` chooses the target: the best candidate that is not Unavailable (or whose retry is
   due); with a candidate already serving, only a better one is a trial;
3. after the rollout was planned and applied, `record` writes every candidate's state.

Switching never drops capacity: the target's model goes into the Deployment, whose rolling
update (maxUnavailable 0) keeps the serving replicas until the new ones pass readiness; a
trial that fails for good sends the target back to the candidate that serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modeldeploy.operator.api.status import (
    ActiveModel,
    CandidateState,
    CandidateStatus,
    ConditionType,
)
from modeldeploy.operator.planners import conditions
from modeldeploy.operator.planners.candidate_failures import Failure
from modeldeploy.operator.planners.conditions import EventNote, Verdict

BACKOFF_CAP = 4
"""A candidate's wait doubles after each failed trial, up to this many retryPreferredEvery."""


@dataclass(frozen=True)
class Look:
    """What this reconcile saw of one candidate."""

    index: int
    repo: str
    commit: str | None
    failure: Failure | None = None
    serving: bool = False
    """Its replicas are Ready at the desired count (the target only)."""
    task: str | None = None
    """The task its runtimes reported (the target only, once one answered)."""


@dataclass(frozen=True)
class Policy:
    retry_every: float
    transient_grace: float


def _due(status: CandidateStatus, now: datetime) -> bool:
    return status.retry_at is None or parse_time(status.retry_at) <= now


def _grace_over(status: CandidateStatus, now: datetime, policy: Policy) -> bool:
    since = status.failing_since
    return since is not None and now - parse_time(since) > timedelta(seconds=policy.transient_grace)


def pick(
    previous: Sequence[CandidateStatus],
    looks: Sequence[Look],
    *,
    active: int | None,
    now: datetime,
    policy: Policy,
) -> int:
    """The candidate the Deployment should carry now."""

    def usable(index: int) -> bool:
        failure, status = looks[index].failure, previous[index]
        if failure is not None and failure.permanent:
            return False
        if status.state is CandidateState.UNAVAILABLE and not _due(status, now):
            return False
        # Nothing has ever served: a candidate that fails only transiently is passed over
        # once it has done so for longer than transientGrace.
        return not (active is None and failure is not None and _grace_over(status, now, policy))

    better = [i for i in range(len(looks)) if (active is None or i < active) and usable(i)]
    if better:
        return better[0]
    return active if active is not None else 0


def initial(repos: Sequence[str], previous: Sequence[CandidateStatus]) -> list[CandidateStatus]:
    """Last seen of each candidate, by position; a position whose repo changed starts afresh."""
    statuses = []
    for index, repo in enumerate(repos):
        old = previous[index] if index < len(previous) else None
        if old is None or old.repo != repo or old.index != index:
            old = CandidateStatus(index=index, repo=repo, state=CandidateState.UNTRIED)
        statuses.append(old)
    return statuses


def backoff_seconds(failures: int, policy: Policy) -> float:
    doublings = min(max(failures - 1, 0), 2)  # 1x, 2x, then 4x at most
    return policy.retry_every * float(min(1 << doublings, BACKOFF_CAP))


@dataclass(frozen=True)
class Record:
    candidates: list[CandidateStatus]
    active: int | None
    retarget: bool
    """The target failed for good: the next reconcile should pick again soon."""


def record(
    previous: Sequence[CandidateStatus],
    looks: Sequence[Look],
    *,
    target: int,
    active: int | None,
    now: datetime,
    policy: Policy,
) -> Record:
    """Every candidate's state after this reconcile, and the candidate that now serves."""
    stamp = _stamp(now)
    serving = active
    failed = looks[target].failure
    if looks[target].serving:
        serving = target
    elif target == active and failed is not None and failed.permanent:
        serving = None  # the serving candidate itself failed for good: nothing serves now
    statuses: list[CandidateStatus] = []
    retarget = False
    for look, old in zip(looks, previous, strict=True):
        status = _with(old, commit=look.commit or old.commit, task=look.task or old.task)
        failure = look.failure
        if look.index == serving:
            status = _with(
                status,
                state=CandidateState.ACTIVE,
                reason=None,
                message=None,
                failures=0,
                retry_at=None,
                failing_since=None,
                last_tried=old.last_tried if old.state is CandidateState.ACTIVE else stamp,
            )
        elif failure is not None:
            fails_for_good = failure.permanent or (
                serving is None
                and look.index == target
                and _grace_over(
                    _with(status, failing_since=status.failing_since or stamp), now, policy
                )
            )
            if fails_for_good:
                tried = old.state is not CandidateState.UNAVAILABLE or _due(old, now)
                failures = old.failures + 1 if tried else old.failures
                status = _with(
                    status,
                    state=CandidateState.UNAVAILABLE,
                    reason=failure.reason,
                    message=failure.message,
                    failures=failures,
                    last_tried=stamp if tried else old.last_tried,
                    retry_at=_stamp(now + timedelta(seconds=backoff_seconds(failures, policy)))
                    if tried
                    else old.retry_at,
                    failing_since=None,
                )
                retarget = retarget or look.index == target
            else:
                status = _with(
                    status,
                    state=CandidateState.TRYING if look.index == target else old.state,
                    reason=failure.reason,
                    message=failure.message,
                    failing_since=old.failing_since or stamp,
                    last_tried=stamp if look.index == target else old.last_tried,
                )
        elif look.index == target:
            status = _with(
                status,
                state=CandidateState.TRYING,
                reason=None,
                message=None,
                failing_since=None,
                retry_at=None,
                last_tried=stamp if old.state is not CandidateState.TRYING else old.last_tried,
            )
        elif old.state is CandidateState.ACTIVE:
            status = _with(status, state=CandidateState.STANDBY, reason=None, message=None)
        statuses.append(status)
    return Record(statuses, serving, retarget)


def active_model(statuses: Sequence[CandidateStatus], serving: int | None) -> ActiveModel | None:
    if serving is None:
        return None
    status = statuses[serving]
    reason = "; ".join(_why(s) for s in statuses[:serving]) or None
    return ActiveModel(index=serving, repo=status.repo, commit=status.commit, reason=reason)


def _why(status: CandidateStatus) -> str:
    text = f"{status.repo}: {status.reason or status.state.value}"
    return f"{text}: {status.message}" if status.message else text


def summary(statuses: Sequence[CandidateStatus]) -> str:
    """Every candidate and why it does or does not serve (for a message while none serves)."""
    return "; ".join(f"[{s.index}] {_why(s)}" for s in statuses)


def condition(statuses: Sequence[CandidateStatus], serving: int | None) -> Verdict:
    """FallbackActive: True while a candidate other than spec.model serves."""
    kind = ConditionType.FALLBACK_ACTIVE
    if serving is None:
        return conditions.false(kind, "NothingServing", f"no candidate serves: {summary(statuses)}")
    if serving == 0:
        return conditions.false(kind, "PreferredServes", f"{statuses[0].repo} serves")
    preferred = statuses[0]
    return conditions.true(
        kind,
        preferred.reason or "PreferredUnavailable",
        f"{statuses[serving].repo} serves; {_why(preferred)}"[: conditions.MAX_MESSAGE],
    )


def switch_notes(
    before: ActiveModel | None, after: ActiveModel | None, statuses: Sequence[CandidateStatus]
) -> list[EventNote]:
    """An Event for each switch of the serving model, and one per candidate newly Unavailable."""
    notes: list[EventNote] = []
    if (
        after is not None
        and (before is None or before.index != after.index)
        and (before is not None or after.index > 0)
    ):
        was = f", was [{before.index}] {before.repo}" if before is not None else ""
        kind = "Normal" if after.index == 0 else "Warning"
        why = f" ({after.reason})" if after.reason else ""
        notes.append(
            EventNote(
                kind, "ModelSwitched", f"now serving [{after.index}] {after.repo}{was}{why}"[:1000]
            )
        )
    return notes


def unavailable_notes(
    before: Sequence[CandidateStatus], after: Sequence[CandidateStatus]
) -> list[EventNote]:
    notes = []
    for old, new in zip(before, after, strict=False):
        if new.state is CandidateState.UNAVAILABLE and (
            old.state is not CandidateState.UNAVAILABLE or old.last_tried != new.last_tried
        ):
            notes.append(
                EventNote("Warning", "CandidateUnavailable", f"[{new.index}] {_why(new)}"[:1000])
            )
    return notes


def next_retry_seconds(statuses: Sequence[CandidateStatus], now: datetime) -> float | None:
    """Seconds until the soonest retry of an Unavailable candidate (None: none waits)."""
    waits = [
        (parse_time(s.retry_at) - now).total_seconds()
        for s in statuses
        if s.state is CandidateState.UNAVAILABLE and s.retry_at
    ]
    return max(min(waits), 1.0) if waits else None


def _with(status: CandidateStatus, **changes: Any) -> CandidateStatus:
    return status.model_copy(update=changes)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as status and the API server write it."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
