"""Conditions as the Kubernetes API conventions want them (metav1.Condition).

`lastTransitionTime` moves only when a condition's status changes, so writing the same
status twice is a no-op — which is what keeps status writes from looping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from modeldeploy.operator.api.status import Condition, ConditionStatus, ConditionType
from modeldeploy.operator.planners.observed import RUNTIME_UNREACHABLE

MAX_MESSAGE = 2000
ORDER = [
    ConditionType.SPEC_VALID,
    ConditionType.RESOLVED,
    ConditionType.FETCHED,
    ConditionType.VERIFIED,
    ConditionType.SCHEDULED,
    ConditionType.READY,
    ConditionType.DEGRADED,
    ConditionType.MODEL_INTACT,
    ConditionType.FALLBACK_ACTIVE,
]


@dataclass(frozen=True)
class Verdict:
    """What the planner concluded for one condition type (before times are attached)."""

    type: ConditionType
    status: ConditionStatus
    reason: str
    message: str = ""


def true(kind: ConditionType, reason: str, message: str = "") -> Verdict:
    return Verdict(kind, ConditionStatus.TRUE, reason, message)


def false(kind: ConditionType, reason: str, message: str = "") -> Verdict:
    return Verdict(kind, ConditionStatus.FALSE, reason, message)


def unknown(kind: ConditionType, reason: str, message: str = "") -> Verdict:
    return Verdict(kind, ConditionStatus.UNKNOWN, reason, message)


def merge(
    previous: Iterable[Condition], verdicts: Iterable[Verdict], *, generation: int, now: str
) -> list[Condition]:
    """New conditions; a type keeps its lastTransitionTime while its status is unchanged."""
    before = {condition.type: condition for condition in previous}
    merged: list[Condition] = []
    for verdict in sorted(verdicts, key=lambda v: ORDER.index(v.type)):
        old = before.get(verdict.type.value)
        keep = old is not None and old.status == verdict.status
        merged.append(
            Condition(
                type=verdict.type.value,
                status=verdict.status,
                reason=safe_reason(verdict.reason),
                message=verdict.message[:MAX_MESSAGE],
                last_transition_time=old.last_transition_time if keep and old else now,
                observed_generation=generation,
            )
        )
    return merged


def safe_reason(reason: str) -> str:
    """A reason the CRD accepts (CamelCase letters, digits, _ , :), e.g. from a runtime."""
    cleaned = "".join(ch for ch in reason if ch.isalnum() or ch in "_,:")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "Reason" + cleaned
    return cleaned.rstrip(",:")[:1024] or "Unknown"


def find(conditions: Iterable[Condition], kind: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.type == kind.value), None)


BENIGN_REASONS = frozenset(
    {
        "Downloading",
        "Suspended",
        "NoReplicas",
        "RuntimesNotReady",
        RUNTIME_UNREACHABLE,
        "WaitingForReadinessProbe",
        "WaitingForCommit",
        "Pending",
        "Resolving",
        "PerPodFetch",
        "NotVerifiedYet",
        "AsExpected",
    }
)


@dataclass(frozen=True)
class EventNote:
    """An Event to post: a condition changed (Warning when it reports a failure)."""

    type: str
    reason: str
    message: str


def events(previous: Iterable[Condition], current: Iterable[Condition]) -> list[EventNote]:
    """One Event per failure or recovery since the last status: the conditions that report
    the same reason (a checksum mismatch makes Verified and Ready False and Degraded True)
    share one Event, named after them all, with the first one's message."""
    notes: dict[tuple[str, str], tuple[list[str], str]] = {}
    for type_, reason, label, message in _changes(previous, current):
        labels, _ = notes.setdefault((type_, reason), ([], message))
        labels.append(label)
    return [
        EventNote(type_, reason, f"{', '.join(labels)}: {message}"[:1000])
        for (type_, reason), (labels, message) in notes.items()
    ]


def _changes(
    previous: Iterable[Condition], current: Iterable[Condition]
) -> list[tuple[str, str, str, str]]:
    """(event type, reason, `Type=Status`, message) of each condition whose status or reason
    changed into a failure or a recovery."""
    before = {c.type: c for c in previous}
    notes: list[tuple[str, str, str, str]] = []
    for condition in current:
        old = before.get(condition.type)
        if old is not None and (old.status, old.reason) == (condition.status, condition.reason):
            continue
        if condition.type == ConditionType.FALLBACK_ACTIVE.value:
            continue  # a switch of model has its own Event (planners/fallback.switch_notes)
        bad_value = (
            ConditionStatus.TRUE
            if condition.type == ConditionType.DEGRADED.value
            else ConditionStatus.FALSE
        )
        failing = condition.status == bad_value and condition.reason not in BENIGN_REASONS
        recovered = condition.status == ConditionStatus.TRUE and old is not None
        if not failing and not recovered:
            continue  # only failures and recoveries are news; waiting is not
        label = f"{condition.type}={condition.status.value}"
        notes.append(
            ("Warning" if failing else "Normal", condition.reason, label, condition.message)
        )
    return notes
