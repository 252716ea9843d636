"""A ModelDeployment naming a ModelCache gets no volume or fetch Job of its own from the rollout
plan (the ModelCache's planner fills the shared directory); the inline form is unchanged."""

from __future__ import annotations

from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import fetchjob, naming, rollout
from tests.operator.unit.builders import COMMIT_A, COMMIT_B, spec

NAMES = naming.Names(name="tiny", namespace="ml")


def _ctx(**fields) -> rollout.Context:
    base = {"names": NAMES, "uid": "u", "settings": Settings(runtime_image="img:9"),
            "commit": COMMIT_B}  # fmt: skip
    return rollout.Context(**(base | fields))


def test_named_cache_plans_no_claim_and_no_fetch_job() -> None:
    plan = rollout.plan(spec(cache={"name": "shared"}), _ctx(deployed_commit=COMMIT_A))
    names = [obj["metadata"]["name"] for obj in plan.objects]
    assert NAMES.cache_claim not in names
    assert not [n for n in names if n.startswith(f"{NAMES.name}-fetch-")]
    assert (plan.fetch_job, plan.keep_jobs) == (None, frozenset())


def test_inline_cache_still_plans_its_claim_with_the_old_defaults() -> None:
    plan = rollout.plan(spec(cache={"size": "1Gi"}), _ctx())
    claim = next(obj for obj in plan.objects if obj["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["annotations"]["modeldeploy.io/retention"] == "Retain"
    assert "ownerReferences" not in claim["metadata"]
    assert plan.fetch_commit == COMMIT_B and plan.fetch_job is not None


def test_inline_fields_that_are_set_still_reach_the_claim() -> None:
    the_spec = spec(cache={"size": "3Gi", "accessMode": "ReadWriteOnce", "retention": "Delete"})
    claim = fetchjob.cache_claim(the_spec, names=NAMES, uid="u-1", storage_class="std")
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "3Gi"}},
        "storageClassName": "std",
    }
    assert claim["metadata"]["ownerReferences"][0]["uid"] == "u-1"
