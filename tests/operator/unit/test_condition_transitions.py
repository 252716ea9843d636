"""Conditions keep lastTransitionTime while their status holds; changes become Events."""

from __future__ import annotations

from modeldeploy.operator.api.status import ConditionStatus, ConditionType
from modeldeploy.operator.planners import conditions


def test_transition_time_moves_only_when_status_changes() -> None:
    first = conditions.merge(
        [], [conditions.false(ConditionType.READY, "Loading", "a")], generation=1, now="T1"
    )
    same = conditions.merge(
        first, [conditions.false(ConditionType.READY, "WarmingUp", "b")], generation=2, now="T2"
    )
    assert same[0].last_transition_time == "T1" and same[0].reason == "WarmingUp"
    assert same[0].observed_generation == 2
    flipped = conditions.merge(
        same, [conditions.true(ConditionType.READY, "RuntimesReady")], generation=2, now="T3"
    )
    assert flipped[0].last_transition_time == "T3" and flipped[0].status is ConditionStatus.TRUE


def test_conditions_are_ordered_by_type() -> None:
    merged = conditions.merge(
        [],
        [conditions.true(ConditionType.READY, "R"), conditions.true(ConditionType.RESOLVED, "R")],
        generation=1,
        now="T",
    )
    assert [c.type for c in merged] == ["Resolved", "Ready"]


def test_reasons_are_made_safe_for_the_crd() -> None:
    assert conditions.safe_reason("Insufficient GPU-memory!") == "InsufficientGPUmemory"
    assert conditions.safe_reason("404") == "Reason404"
    assert conditions.safe_reason("") == "Reason"


def test_failures_and_recoveries_become_events_waiting_does_not() -> None:
    before = conditions.merge(
        [],
        [
            conditions.false(ConditionType.READY, "RuntimesNotReady"),
            conditions.true(ConditionType.SCHEDULED, "Scheduled"),
        ],
        generation=1,
        now="T",
    )
    failing = conditions.merge(
        before,
        [
            conditions.false(ConditionType.READY, "InsufficientGPUMemory", "oom"),
            conditions.false(ConditionType.SCHEDULED, "Pending"),
        ],
        generation=1,
        now="T",
    )
    notes = conditions.events(before, failing)
    assert [(n.type, n.reason) for n in notes] == [("Warning", "InsufficientGPUMemory")]
    recovered = conditions.merge(
        failing, [conditions.true(ConditionType.READY, "RuntimesReady")], generation=1, now="T"
    )
    assert [(n.type, n.reason) for n in conditions.events(failing, recovered)] == [
        ("Normal", "RuntimesReady")
    ]
    assert conditions.events(recovered, recovered) == []


def test_degraded_true_is_the_failure() -> None:
    notes = conditions.events(
        [],
        conditions.merge(
            [], [conditions.true(ConditionType.DEGRADED, "FileCorrupt", "x")], generation=1, now="T"
        ),
    )
    assert notes[0].type == "Warning"
