"""In the operator's status a missing or wrong token is fixed with spec.model.tokenSecretRef,
not with HF_TOKEN (which the command line's messages name, and which a cluster user cannot set)."""

from __future__ import annotations

from datetime import UTC, datetime

from modeldeploy.hub import errors
from modeldeploy.operator.api.status import ModelDeploymentStatus
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import naming, rollout
from modeldeploy.operator.planners import status as planner
from modeldeploy.operator.planners.observed import PodView, RuntimeReport
from tests.operator.unit.builders import pod, runtime_status, spec


def _status(the_spec, *, resolve, replicas=()) -> ModelDeploymentStatus:
    ctx = rollout.Context(
        names=naming.Names(name="tiny", namespace="ml"),
        uid="u",
        settings=Settings(),
        commit=resolve.commit,
    )
    return planner.plan_status(
        planner.StatusInputs(
            name="tiny",
            generation=1,
            spec=the_spec,
            previous=ModelDeploymentStatus(),
            plan=rollout.plan(the_spec, ctx),
            resolve=resolve,
            fetch=None,
            replicas=list(replicas),
            fit=None,
            estimate_bytes=None,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def _texts(status: ModelDeploymentStatus) -> list[str]:
    return (
        [status.message or ""]
        + [c.message for c in status.conditions]
        + [r.message or "" for r in status.replica_statuses]
    )


def test_repo_not_found_tells_a_cluster_user_to_set_the_token_secret_ref() -> None:
    gone = errors.from_http(404, "RepoNotFound", "acme/private", file=False)
    resolve = planner.ResolveOutcome(None, "main", (gone.reason.value, gone.message), False)
    status = _status(spec(), resolve=resolve)
    resolved = next(c for c in status.conditions if c.type == "Resolved")
    assert resolved.message == (
        "acme/private: repository not found (if it is private, set spec.model.tokenSecretRef "
        "to a Secret holding a token that can read it)"
    )
    assert not any("HF_TOKEN" in text for text in _texts(status))


def test_with_a_secret_already_named_the_advice_names_that_secret() -> None:
    denied = errors.from_http(401, None, "acme/private", file=False)
    the_spec = spec(model={"repo": "acme/private", "tokenSecretRef": {"name": "hf", "key": "tok"}})
    failed = runtime_status("Failed", error=(denied.reason.value, denied.message))
    replica = planner.Replica(PodView.from_pod(pod("p1")), RuntimeReport.from_json(failed))
    resolve = planner.ResolveOutcome("a" * 40, "main")
    status = _status(the_spec, resolve=resolve, replicas=[replica])
    assert status.replica_statuses[0].message == (
        "acme/private: HTTP 401: not authorized (make Secret hf (spec.model.tokenSecretRef, "
        "key tok) hold a token that can read this repo)"
    )
    assert not any("HF_TOKEN" in text for text in _texts(status))
