"""The choice of candidate model (planners/fallback.py), without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modeldeploy.operator.api.status import CandidateState, CandidateStatus, ConditionStatus
from modeldeploy.operator.planners import candidate_failures, fallback
from modeldeploy.operator.planners.candidate_failures import Failure
from modeldeploy.operator.planners.fallback import Look, Policy
from modeldeploy.operator.planners.inputs import Replica
from modeldeploy.operator.planners.observed import FetchView, PodView, RuntimeReport
from tests.operator.unit.builders import COMMIT_A, COMMIT_B, runtime_status

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POLICY = Policy(retry_every=900.0, transient_grace=600.0)
REPOS = ["org/big", "org/medium", "org/small"]
GONE = Failure("RepoNotFound", "org/big does not exist", permanent=True)
FLAKY = Failure("NetworkError", "connection reset", permanent=False)


def fresh() -> list[CandidateStatus]:
    return fallback.initial(REPOS, [])


def looks(**failures: Failure) -> list[Look]:
    """Cheap looks of the three candidates; `c0=GONE` gives candidate 0 that failure."""
    return [
        Look(i, repo, COMMIT_A if f"c{i}" not in failures else None, failures.get(f"c{i}"))
        for i, repo in enumerate(REPOS)
    ]


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def replica(
    name: str, state: str, *, error: tuple[str, str] | None = None, restarts: int = 0
) -> Replica:
    pod = PodView(
        name=name,
        commit_label=COMMIT_A[:12],
        running=True,
        ready=state == "Ready",
        scheduled=True,
        ip="10.0.0.5",
        restarts=restarts,
    )
    return Replica(pod, RuntimeReport.from_json(runtime_status(state, error=error)))


# --- which failures move to the next candidate ---------------------------------------------


def test_a_preferred_repo_that_does_not_exist_moves_to_the_first_fallback() -> None:
    assert fallback.pick(fresh(), looks(c0=GONE), active=None, now=NOW, policy=POLICY) == 1


def test_a_transient_failure_keeps_the_preferred_candidate() -> None:
    assert fallback.pick(fresh(), looks(c0=FLAKY), active=None, now=NOW, policy=POLICY) == 0


def test_after_transient_grace_with_nothing_ever_ready_a_fallback_is_tried() -> None:
    before = fresh()
    before[0] = before[0].model_copy(update={"failing_since": stamp(NOW - timedelta(minutes=5))})
    assert fallback.pick(before, looks(c0=FLAKY), active=None, now=NOW, policy=POLICY) == 0
    before[0] = before[0].model_copy(update={"failing_since": stamp(NOW - timedelta(minutes=11))})
    assert fallback.pick(before, looks(c0=FLAKY), active=None, now=NOW, policy=POLICY) == 1


def test_transient_failures_never_switch_away_from_a_serving_candidate() -> None:
    before = fresh()
    before[0] = before[0].model_copy(
        update={"state": CandidateState.ACTIVE, "failing_since": stamp(NOW - timedelta(hours=1))}
    )
    assert fallback.pick(before, looks(c0=FLAKY), active=0, now=NOW, policy=POLICY) == 0
    done = fallback.record(before, looks(c0=FLAKY), target=0, active=0, now=NOW, policy=POLICY)
    assert done.active == 0 and done.candidates[0].state is CandidateState.ACTIVE


def test_no_fitting_gpu_node_is_judged_per_candidate() -> None:
    too_big = candidate_failures.cheap_failure(None, False, fits=False, fit_message="needs 80 GiB")
    assert too_big == Failure("NoFittingGPUNode", "needs 80 GiB", permanent=True)
    assert candidate_failures.cheap_failure(None, False, fits=True) is None
    assert fallback.pick(fresh(), looks(c0=too_big), active=None, now=NOW, policy=POLICY) == 1


def test_a_load_failure_on_every_replica_is_permanent_but_on_one_it_is_not() -> None:
    oom = ("OutOfMemory", "CUDA out of memory")
    both = [replica("a", "Failed", error=oom), replica("b", "Failed", error=oom)]
    failure = candidate_failures.judge(
        None, fetch=None, corrupted=None, replicas=both, others_serve=False
    )
    assert failure is not None and failure.permanent and failure.reason == "OutOfMemory"
    one = [replica("a", "Failed", error=oom), replica("b", "Loading")]
    assert (
        candidate_failures.judge(None, fetch=None, corrupted=None, replicas=one, others_serve=False)
        is None
    )
    mixed = [replica("a", "Failed", error=oom), replica("b", "Failed", error=("WarmupFailed", ""))]
    assert (
        candidate_failures.judge(
            None, fetch=None, corrupted=None, replicas=mixed, others_serve=False
        )
        is None
    )


def test_an_image_that_cannot_be_pulled_is_not_the_models_fault() -> None:
    pull = ("ImagePullBackOff", "no such image")
    replicas = [replica("a", "Failed", error=pull)]
    assert (
        candidate_failures.judge(
            None, fetch=None, corrupted=None, replicas=replicas, others_serve=False
        )
        is None
    )


def test_runtimes_crash_looping_on_every_replica_move_on() -> None:
    looping = [replica("a", "Starting", restarts=3), replica("b", "Loading", restarts=4)]
    both = frozenset({"a", "b"})
    failure = candidate_failures.judge(
        None, fetch=None, corrupted=None, replicas=looping, others_serve=False, crash_looping=both
    )
    assert failure is not None and failure.reason == "CrashLoop" and failure.permanent
    one = frozenset({"a"})
    assert (
        candidate_failures.judge(
            None,
            fetch=None,
            corrupted=None,
            replicas=looping,
            others_serve=False,
            crash_looping=one,
        )
        is None
    )


def test_crash_looping_is_three_restarts_seen_within_ten_minutes() -> None:
    history: dict[str, candidate_failures.Restarts] = {}
    # A pod first seen with old restarts has none in the window yet.
    assert candidate_failures.crash_looping(history, [("a", 5)], now=0.0) == frozenset()
    assert candidate_failures.crash_looping(history, [("a", 6)], now=100.0) == frozenset()
    assert candidate_failures.crash_looping(history, [("a", 7)], now=200.0) == frozenset()
    assert candidate_failures.crash_looping(history, [("a", 8)], now=300.0) == {"a"}
    # Restarts spread wider than the window are not a crash loop.
    assert candidate_failures.crash_looping(history, [("a", 9)], now=1000.0) == frozenset()
    # A pod that went is forgotten.
    candidate_failures.crash_looping(history, [("b", 0)], now=1001.0)
    assert set(history) == {"b"}


def test_fetch_failures_are_permanent_unless_waiting_can_fix_them() -> None:
    def fetch(reason: str) -> FetchView:
        line = {"event": "error", "reason": reason, "message": "x"}
        return FetchView(name="j", commit=COMMIT_A, failed=True, progress=line)

    gated = candidate_failures.judge(
        None, fetch=fetch("PickleRefused"), corrupted=None, replicas=[], others_serve=False
    )
    assert gated is not None and gated.permanent
    stalled = candidate_failures.judge(
        None, fetch=fetch("Stalled"), corrupted=None, replicas=[], others_serve=False
    )
    assert stalled is not None and not stalled.permanent
    bad = candidate_failures.judge(
        None,
        fetch=None,
        corrupted="model.safetensors: sha256 mismatch",
        replicas=[],
        others_serve=False,
    )
    assert bad is not None and bad.reason == "ChecksumMismatch" and bad.permanent


def test_a_trial_replica_without_room_is_blocked_by_capacity_not_unavailable() -> None:
    pod = PodView(
        name="t", commit_label=COMMIT_A[:12], scheduled=False, unschedulable_message="0/3 nodes"
    )
    trial = [Replica(pod, RuntimeReport.unreachable("not running"))]
    failure = candidate_failures.judge(
        None, fetch=None, corrupted=None, replicas=trial, others_serve=True
    )
    assert failure is not None and failure.reason == candidate_failures.BLOCKED_BY_CAPACITY
    assert not failure.permanent
    before = fresh()
    before[1] = before[1].model_copy(update={"state": CandidateState.ACTIVE})
    before[0] = before[0].model_copy(
        update={"state": CandidateState.UNAVAILABLE, "retry_at": stamp(NOW)}
    )
    now = looks()
    now[0] = Look(0, "org/big", COMMIT_A, failure)
    done = fallback.record(before, now, target=0, active=1, now=NOW, policy=POLICY)
    assert done.candidates[0].state is CandidateState.TRYING
    assert done.candidates[0].reason == candidate_failures.BLOCKED_BY_CAPACITY
    assert done.active == 1 and not done.retarget


# --- make before break ----------------------------------------------------------------------


def test_the_serving_candidate_stays_active_until_the_new_one_is_ready() -> None:
    before = fresh()
    before[1] = before[1].model_copy(update={"state": CandidateState.ACTIVE})
    loading = fallback.record(before, looks(), target=0, active=1, now=NOW, policy=POLICY)
    assert loading.active == 1
    assert [c.state for c in loading.candidates][:2] == [
        CandidateState.TRYING,
        CandidateState.ACTIVE,
    ]
    ready = looks()
    ready[0] = Look(0, "org/big", COMMIT_A, None, serving=True)
    switched = fallback.record(
        loading.candidates, ready, target=0, active=1, now=NOW, policy=POLICY
    )
    assert switched.active == 0
    assert [c.state for c in switched.candidates][:2] == [
        CandidateState.ACTIVE,
        CandidateState.STANDBY,
    ]


def test_a_failed_trial_goes_back_to_the_serving_candidate() -> None:
    before = fresh()
    before[1] = before[1].model_copy(update={"state": CandidateState.ACTIVE})
    failed = looks()
    failed[0] = Look(0, "org/big", COMMIT_A, Failure("OutOfMemory", "every replica: OOM", True))
    done = fallback.record(before, failed, target=0, active=1, now=NOW, policy=POLICY)
    assert done.retarget and done.active == 1
    assert done.candidates[0].state is CandidateState.UNAVAILABLE
    assert fallback.pick(done.candidates, looks(), active=1, now=NOW, policy=POLICY) == 1


def test_nothing_serves_until_a_candidate_has_been_ready() -> None:
    done = fallback.record(fresh(), looks(c0=GONE), target=1, active=None, now=NOW, policy=POLICY)
    assert done.active is None
    assert fallback.active_model(done.candidates, done.active) is None
    verdict = fallback.condition(done.candidates, done.active)
    assert verdict.status is ConditionStatus.FALSE and verdict.reason == "NothingServing"
    assert "org/big: RepoNotFound" in verdict.message


# --- going back up, without flapping --------------------------------------------------------


def test_each_failed_trial_doubles_the_wait_up_to_four_times() -> None:
    assert [fallback.backoff_seconds(n, POLICY) for n in (1, 2, 3, 4, 5)] == [
        900.0,
        1800.0,
        3600.0,
        3600.0,
        3600.0,
    ]
    statuses = fresh()
    when = NOW
    waits = []
    for _ in range(3):
        done = fallback.record(
            statuses, looks(c0=GONE), target=1, active=None, now=when, policy=POLICY
        )
        statuses = done.candidates
        retry = datetime.fromisoformat(statuses[0].retry_at.replace("Z", "+00:00"))  # type: ignore[union-attr]
        waits.append((retry - when).total_seconds())
        when = retry  # the retry comes, and fails again
    assert waits == [900.0, 1800.0, 3600.0]
    assert statuses[0].failures == 3


def test_an_unavailable_candidate_is_not_retried_before_its_time() -> None:
    statuses = fallback.record(
        fresh(), looks(c0=GONE), target=1, active=None, now=NOW, policy=POLICY
    ).candidates
    served = looks()
    served[1] = Look(1, "org/medium", COMMIT_A, None, serving=True)
    statuses = fallback.record(
        statuses, served, target=1, active=None, now=NOW, policy=POLICY
    ).candidates
    # The preferred repo is back, but its retry is 15 minutes away: no flapping.
    assert (
        fallback.pick(statuses, looks(), active=1, now=NOW + timedelta(minutes=5), policy=POLICY)
        == 1
    )
    assert (
        fallback.pick(statuses, looks(), active=1, now=NOW + timedelta(minutes=15), policy=POLICY)
        == 0
    )
    assert fallback.next_retry_seconds(statuses, NOW) == 900.0


def test_a_failure_seen_again_before_its_retry_is_not_counted_again() -> None:
    once = fallback.record(fresh(), looks(c0=GONE), target=1, active=None, now=NOW, policy=POLICY)
    again = fallback.record(
        once.candidates,
        looks(c0=GONE),
        target=1,
        active=None,
        now=NOW + timedelta(minutes=1),
        policy=POLICY,
    )
    assert again.candidates[0].failures == 1
    assert again.candidates[0].retry_at == once.candidates[0].retry_at


def test_the_serving_candidate_failing_for_good_leaves_nothing_serving() -> None:
    before = fresh()
    before[1] = before[1].model_copy(update={"state": CandidateState.ACTIVE})
    crashed = looks()
    crashed[1] = Look(
        1, "org/medium", COMMIT_A, Failure("CrashLoop", "every replica restarted", True)
    )
    done = fallback.record(before, crashed, target=1, active=1, now=NOW, policy=POLICY)
    assert done.active is None and done.retarget
    assert fallback.pick(done.candidates, looks(c0=GONE), active=None, now=NOW, policy=POLICY) == 2


# --- what status and Events say -------------------------------------------------------------


def test_fallback_active_names_the_preferred_ones_reason() -> None:
    statuses = fallback.record(
        fresh(), looks(c0=GONE), target=1, active=None, now=NOW, policy=POLICY
    ).candidates
    served = looks(c0=GONE)
    served[1] = Look(1, "org/medium", COMMIT_B, None, serving=True)
    done = fallback.record(statuses, served, target=1, active=None, now=NOW, policy=POLICY)
    active = fallback.active_model(done.candidates, done.active)
    assert active is not None and (active.index, active.repo, active.commit) == (
        1,
        "org/medium",
        COMMIT_B,
    )
    assert active.reason == "org/big: RepoNotFound: org/big does not exist"
    verdict = fallback.condition(done.candidates, done.active)
    assert verdict.status is ConditionStatus.TRUE and verdict.reason == "RepoNotFound"
    notes = fallback.switch_notes(None, active, done.candidates)
    assert [(n.type, n.reason) for n in notes] == [("Warning", "ModelSwitched")]
    assert "now serving [1] org/medium" in notes[0].message


def test_a_candidate_that_becomes_unavailable_posts_one_event() -> None:
    first = fallback.record(fresh(), looks(c0=GONE), target=1, active=None, now=NOW, policy=POLICY)
    notes = fallback.unavailable_notes(fresh(), first.candidates)
    assert [(n.reason, n.message) for n in notes] == [
        ("CandidateUnavailable", "[0] org/big: RepoNotFound: org/big does not exist")
    ]
    later = fallback.record(
        first.candidates, looks(c0=GONE), target=1, active=None, now=NOW, policy=POLICY
    )
    assert fallback.unavailable_notes(first.candidates, later.candidates) == []


def test_a_candidate_list_edited_in_place_starts_that_position_afresh() -> None:
    old = fallback.record(
        fresh(), looks(c0=GONE), target=1, active=None, now=NOW, policy=POLICY
    ).candidates
    edited = fallback.initial(["org/bigger", "org/medium", "org/small"], old)
    assert edited[0].state is CandidateState.UNTRIED and edited[0].repo == "org/bigger"
    assert edited[1] == old[1]


def test_a_candidate_serving_another_task_is_unavailable_with_task_mismatch() -> None:
    embedder = replica("a", "Ready")
    embedder = Replica(
        embedder.pod,
        RuntimeReport.from_json({**runtime_status("Ready"), "model": {"task": "embeddings"}}),
    )
    failure = candidate_failures.judge(
        None,
        fetch=None,
        corrupted=None,
        replicas=[embedder],
        others_serve=True,
        task="text-generation",
    )
    assert failure is not None and failure.reason == "TaskMismatch" and failure.permanent
    assert "serve embeddings" in failure.message


def test_with_task_auto_the_preferred_models_task_is_the_one_to_serve() -> None:
    statuses = fresh()
    assert (
        candidate_failures.expected_task("auto", statuses) is None
    )  # nothing ran yet: no judgement
    statuses[0] = statuses[0].model_copy(update={"task": "text-generation"})
    assert candidate_failures.expected_task("auto", statuses) == "text-generation"
    assert candidate_failures.expected_task("embeddings", statuses) == "embeddings"
