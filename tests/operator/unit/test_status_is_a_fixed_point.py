"""Feeding a written status back as `previous` gives the same status: no write, no loop.

A status that changed each time it is read back would be written at every reconcile, and
each write's watch event would wake the worker again: a write/watch loop.
"""

from __future__ import annotations

import pytest

from modeldeploy.operator.api.status import ModelDeploymentStatus
from modeldeploy.operator.planners import status as planner
from modeldeploy.operator.planners.observed import FetchView
from modeldeploy.operator.planners.placement import Fit
from tests.operator.unit.builders import COMMIT_A, runtime_status, spec
from tests.operator.unit.test_status_aggregation import _replica, _status

DOWNLOADING = {
    "event": "downloading",
    "bytesDone": 250,
    "bytesTotal": 1000,
    "filesDone": 1,
    "filesTotal": 3,
    "bytesPerSecond": 12.5,
    "etaSeconds": 60,
}
TIMED = runtime_status("Ready", timings={"loadSeconds": 1.5, "warmupSeconds": 0.25})


def _scenarios() -> dict[str, dict]:
    cached = spec(replicas=1, cache={"size": "1Gi"})
    return {
        "ready": {"replicas": [_replica("p1", TIMED), _replica("p2", TIMED)]},
        "loading": {
            "replicas": [
                _replica("p1", TIMED),
                _replica("p2", runtime_status("Loading", progress=0.5)),
            ]
        },
        "unreachable": {"replicas": [_replica("p1")]},
        "crashed": {
            "replicas": [
                _replica(
                    "p1",
                    running=False,
                    terminated_message="FileCorrupt: x",
                    waiting_reason="CrashLoopBackOff",
                )
            ]
        },
        "downloading": {
            "the_spec": cached,
            "fetch": FetchView(name="j", commit=COMMIT_A, active=True, progress=DOWNLOADING),
        },
        "fetched": {
            "the_spec": cached,
            "fetch": FetchView(
                name="j",
                commit=COMMIT_A,
                succeeded=True,
                started_at="2026-01-01T00:00:00Z",
                completed_at="2026-01-01T00:01:00Z",
                progress={"event": "done", "manifestDigest": "d" * 64},
            ),
            "replicas": [_replica("p1", TIMED)],
        },
        "no fit": {"the_spec": spec(gpu={"count": 1}), "fit": Fit(False, None, None, "none")},
        "resolve failed": {
            "resolve": planner.ResolveOutcome(None, "main", ("RepoNotFound", "no such repo"))
        },
    }


@pytest.mark.parametrize("name", list(_scenarios()))
def test_a_status_read_back_plans_the_same_status(name: str) -> None:
    inputs = _scenarios()[name]
    first = _status(**inputs)
    written = first.model_dump(mode="json", by_alias=True, exclude_none=True)
    read_back = ModelDeploymentStatus.model_validate(written)
    second = _status(**inputs, previous=read_back)
    assert second.model_dump(mode="json", by_alias=True, exclude_none=True) == written
