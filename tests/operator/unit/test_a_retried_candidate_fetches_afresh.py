"""A candidate tried again after its fetch failed for good gets a new fetch Job."""

from __future__ import annotations

from datetime import UTC, datetime

from modeldeploy.operator import candidates
from modeldeploy.operator.api.status import CandidateState, CandidateStatus
from modeldeploy.operator.planners.fallback import Look
from modeldeploy.operator.planners.observed import FetchView
from tests.operator.unit.builders import COMMIT_A

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _choice(status: CandidateStatus) -> candidates.Choice:
    looks = [Look(0, "org/big", COMMIT_A), Look(1, "org/small", COMMIT_A)]
    active = CandidateStatus(index=1, repo="org/small", state=CandidateState.ACTIVE)
    return candidates.Choice(looks, [status, active], active=1, target=0)


def _failed(started: str) -> FetchView:
    line = {"event": "error", "reason": "ChecksumMismatch", "message": "model.safetensors"}
    return FetchView(
        name="big-fetch", commit=COMMIT_A, failed=True, progress=line, started_at=started
    )


def test_the_failed_job_of_an_earlier_trial_is_stale_once_the_retry_is_due() -> None:
    waiting = CandidateStatus(
        index=0, repo="org/big", state=CandidateState.UNAVAILABLE, retry_at="2026-12-06T12:10:00Z"
    )
    job = _failed("2026-12-06T11:00:00Z")
    assert not candidates.stale_fetch(_choice(waiting), job, NOW)  # not yet: it stands
    due = waiting.model_copy(update={"retry_at": "2026-12-06T11:59:00Z"})
    assert candidates.stale_fetch(_choice(due), job, NOW)


def test_during_a_trial_only_a_job_older_than_the_trial_is_stale() -> None:
    trying = CandidateStatus(
        index=0, repo="org/big", state=CandidateState.TRYING, last_tried="2026-12-06T11:30:00Z"
    )
    assert candidates.stale_fetch(_choice(trying), _failed("2026-12-06T11:00:00Z"), NOW)
    assert not candidates.stale_fetch(_choice(trying), _failed("2026-12-06T11:31:00Z"), NOW)
    assert not candidates.stale_fetch(None, _failed("2026-12-06T11:00:00Z"), NOW)
