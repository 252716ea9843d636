"""Which children exist: a new commit rolls out only after its fetch succeeded."""

from __future__ import annotations

from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import naming, rollout
from modeldeploy.operator.planners.placement import Fit
from tests.operator.unit.builders import COMMIT_A, COMMIT_B, spec

NAMES = naming.Names(name="tiny", namespace="ml")


def _ctx(**fields) -> rollout.Context:
    base = {
        "names": NAMES,
        "uid": "u",
        "settings": Settings(runtime_image="img:9"),
        "commit": COMMIT_B,
    }
    base.update(fields)
    return rollout.Context(**base)


def _job(commit: str) -> str:
    return rollout.fetch_job_name(
        spec(cache={"size": "1Gi"}),
        names=NAMES,
        settings=Settings(runtime_image="img:9"),
        commit=commit,
    )


def _kinds(plan: rollout.Plan) -> list[str]:
    return [obj["kind"] for obj in plan.objects]


def _deployment(plan: rollout.Plan) -> dict:
    return next(obj for obj in plan.objects if obj["kind"] == "Deployment")


def test_cached_new_commit_keeps_serving_the_old_one_until_fetched() -> None:
    plan = rollout.plan(spec(cache={"size": "1Gi"}), _ctx(deployed_commit=COMMIT_A))
    assert plan.serving_commit == COMMIT_A
    assert _deployment(plan)["metadata"]["annotations"][naming.ANNOTATION_COMMIT] == COMMIT_A
    assert plan.fetch_commit == COMMIT_B
    assert plan.keep_jobs == {_job(COMMIT_A), _job(COMMIT_B)}
    assert plan.fetch_job == _job(COMMIT_B) and plan.fetch_job.startswith(
        f"tiny-fetch-{COMMIT_B[:6]}-"
    )


def test_cached_new_commit_rolls_out_once_fetched() -> None:
    plan = rollout.plan(
        spec(cache={"size": "1Gi"}),
        _ctx(deployed_commit=COMMIT_A, fetched_commits=frozenset({COMMIT_B})),
    )
    assert plan.serving_commit == COMMIT_B
    assert plan.keep_jobs == {_job(COMMIT_B)}


def test_cached_first_commit_creates_no_deployment_before_the_fetch() -> None:
    plan = rollout.plan(spec(cache={"size": "1Gi"}), _ctx())
    assert _kinds(plan) == ["PersistentVolumeClaim", "Job", "Service", "Service"]


def test_per_pod_mode_deploys_the_resolved_commit_at_once() -> None:
    plan = rollout.plan(spec(), _ctx(deployed_commit=COMMIT_A))
    assert _kinds(plan) == ["Deployment", "Service", "Service"]
    assert plan.serving_commit == COMMIT_B and plan.fetch_commit is None


def test_unresolved_per_pod_keeps_the_deployed_commit() -> None:
    plan = rollout.plan(spec(), _ctx(commit=None, deployed_commit=COMMIT_A))
    assert plan.serving_commit == COMMIT_A


def test_suspend_and_no_fit_scale_to_zero() -> None:
    assert rollout.plan(spec(replicas=3, suspend=True), _ctx()).replicas == 0
    no_fit = Fit(False, None, None, "nothing")
    assert rollout.plan(spec(replicas=3, gpu={"count": 1}), _ctx(fit=no_fit)).replicas == 0
    assert _deployment(rollout.plan(spec(replicas=3), _ctx()))["spec"]["replicas"] == 3


def test_operator_defaults_fill_what_the_spec_leaves_empty() -> None:
    settings = Settings(
        runtime_image="img:9", default_endpoint="http://mirror", cache_storage_class="fast"
    )
    plan = rollout.plan(spec(cache={"size": "1Gi"}), _ctx(settings=settings))
    claim, job = plan.objects[0], plan.objects[1]
    assert claim["spec"]["storageClassName"] == "fast"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "img:9" and "http://mirror" in container["args"]


def test_service_monitor_only_when_asked() -> None:
    assert "ServiceMonitor" not in _kinds(rollout.plan(spec(), _ctx()))
    assert "ServiceMonitor" in _kinds(
        rollout.plan(spec(monitoring={"serviceMonitor": True}), _ctx())
    )


def test_once_every_replica_serves_the_new_commit_the_old_ones_leave_the_inline_volume() -> None:
    cached = spec(cache={"size": "1Gi"})
    moving = rollout.plan(
        cached, _ctx(deployed_commit=COMMIT_A, fetched_commits=frozenset({COMMIT_B}))
    )
    assert not [o for o in moving.objects if o["metadata"]["name"].startswith("tiny-gc-")]
    done = rollout.plan(
        cached,
        _ctx(deployed_commit=COMMIT_B, fetched_commits=frozenset({COMMIT_B}), rolled_out=True),
    )
    [cleanup] = [o for o in done.objects if o["metadata"]["name"] == f"tiny-gc-{COMMIT_B[:6]}"]
    args = cleanup["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["cache", "gc", "/cache"]
    assert args[args.index("--keep") + 1] == f"acme/tiny@{COMMIT_B}"
    assert cleanup["metadata"]["name"] in done.keep_jobs
    volume = cleanup["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]
    assert volume == {"claimName": "tiny-cache"}
    assert _job(COMMIT_A) not in done.keep_jobs  # the old commit's fetch Job goes too
