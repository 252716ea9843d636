"""Status fields that misled a new user: each says what is true of this deployment."""

from __future__ import annotations

from datetime import UTC, datetime

from modeldeploy.operator.api.status import ModelDeploymentStatus, Phase
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import naming, rollout
from modeldeploy.operator.planners import status as planner
from modeldeploy.operator.planners.observed import FetchView, PodView, RuntimeReport
from modeldeploy.operator.planners.placement import Fit
from tests.operator.unit.builders import COMMIT_A, pod, runtime_status, spec

GIB = 1 << 30
RESOLVED = planner.ResolveOutcome(COMMIT_A, "main")


def _status(the_spec, *, resolve=RESOLVED, replicas=(), fit=None, fetch=None, estimate=None):
    ctx = rollout.Context(
        names=naming.Names(name="tiny", namespace="ml"),
        uid="u",
        settings=Settings(),
        commit=resolve.commit,
        fetched_commits=frozenset({COMMIT_A}) if fetch and fetch.succeeded else frozenset(),
        fit=fit,
    )
    return planner.plan_status(
        planner.StatusInputs(
            name="tiny",
            generation=4,
            spec=the_spec,
            previous=ModelDeploymentStatus(),
            plan=rollout.plan(the_spec, ctx),
            resolve=resolve,
            fetch=fetch,
            replicas=list(replicas),
            fit=fit,
            estimate_bytes=estimate,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def _condition(status: ModelDeploymentStatus, kind: str):
    return next(c for c in status.conditions if c.type == kind)


def _replica(name: str, doc=None, **fields) -> planner.Replica:
    report = RuntimeReport.from_json(doc) if doc else RuntimeReport.unreachable("refused")
    return planner.Replica(PodView.from_pod(pod(name, **fields)), report)


def test_a_deployment_that_failed_to_resolve_is_degraded() -> None:
    gone = planner.ResolveOutcome(None, "main", ("RepoNotFound", "acme/tiny: not found"), False)
    status = _status(spec(), resolve=gone)
    assert status.phase is Phase.FAILED
    degraded = _condition(status, "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "RepoNotFound")
    assert degraded.message == "acme/tiny: not found"


def test_ready_counts_a_replica_that_cannot_be_placed_as_wanted() -> None:
    nothing_fits = Fit(False, None, None, "a replica needs 1x nvidia.com/gpu; no node fits")
    assert _status(spec(replicas=1, gpu={"count": 1}), fit=nothing_fits).ready == "0/1"
    assert _status(spec(replicas=2, suspend=True)).ready == "0/0"  # suspended wants none


def test_a_cpu_deployment_shows_no_gpu_memory_estimate() -> None:
    cpu = _status(spec(gpu={"count": 0}), estimate=3 * GIB)
    assert cpu.placement is not None and cpu.placement.estimated_gpu_memory is None
    gpu = _status(spec(gpu={"count": 1}), estimate=3 * GIB)
    assert gpu.placement is not None and gpu.placement.estimated_gpu_memory == "3Gi"


def test_progress_while_deploying_is_the_share_of_wanted_pods_started() -> None:
    pending = _replica("p1", running=False)  # placed, its image still pulling
    started = _replica("p2", running=True, ready=False)
    status = _status(spec(replicas=2), replicas=[pending, started])
    assert status.phase is Phase.DEPLOYING and status.progress == "50%"
    none_yet = _status(spec(replicas=1))
    assert none_yet.phase is Phase.DEPLOYING and none_yet.progress == "0%"


def test_verification_lists_the_files_the_fetch_verified() -> None:
    digests = {"config.json": "1" * 64, "model.safetensors": "2" * 64}
    done = {"event": "done", "manifestDigest": "sha256:" + "d" * 64, "files": digests}
    fetch = FetchView(
        name="j",
        commit=COMMIT_A,
        succeeded=True,
        completed_at="2026-01-01T00:01:00Z",
        progress=done,
    )
    status = _status(spec(cache={"size": "1Gi"}), fetch=fetch)
    assert status.verification is not None and status.verification.files == digests


def test_spec_valid_says_which_generation_it_judged() -> None:
    valid = _condition(_status(spec()), "SpecValid")
    assert (valid.status, valid.message) == ("True", "generation 4 passed validation")


def test_a_suspended_deployment_without_a_cache_is_not_told_its_cache_is_kept() -> None:
    assert _status(spec(suspend=True)).message == "suspended: scaled to zero"
    cached = _status(spec(suspend=True, cache={"size": "1Gi"}))
    assert (cached.message or "").startswith("suspended: scaled to zero, cache kept")


def test_one_replica_is_one_replica() -> None:
    status = _status(spec(replicas=1), replicas=[_replica("p1", runtime_status("Ready"))])
    assert _condition(status, "Scheduled").message == "1 replica placed on n1"
