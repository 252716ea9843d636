"""An object the API server refuses does not stop the reconcile: status says ApplyFailed."""

from __future__ import annotations

import asyncio

from modeldeploy.operator import kube
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import naming, rollout
from tests.operator.unit import reconcile_fakes as fakes
from tests.operator.unit.builders import COMMIT_A, spec

SPEC = {"model": {"repo": "acme/tiny"}, "monitoring": {"serviceMonitor": True}}


def _condition(patch: dict, kind: str) -> dict:
    return next(c for c in patch["conditions"] if c["type"] == kind)


def test_a_refused_service_monitor_is_reported_and_the_rest_applied() -> None:
    reconciler, client = fakes.make()
    client.refuse["ServiceMonitor"] = kube.KubeError(
        "apply ServiceMonitor ml/tiny: the server could not find the requested resource",
        code=404,
        transient=False,
    )
    asyncio.run(reconciler.reconcile(fakes.body(SPEC), fakes.view()))
    assert {o["kind"] for o in client.applied} == {"Deployment", "Service"}
    assert len(client.patches) == 1
    degraded = _condition(client.patches[0], "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "ApplyFailed"
    assert "ServiceMonitor ml/tiny" in degraded["message"]
    assert any(reason == "ApplyFailed" for _, reason, _ in client.events)


def test_transient_apply_errors_still_raise_for_a_retry() -> None:
    reconciler, client = fakes.make()
    client.refuse["Service"] = kube.KubeError("conflict", code=409, transient=True)
    try:
        asyncio.run(reconciler.reconcile(fakes.body(SPEC), fakes.view()))
    except kube.KubeError as exc:
        assert exc.transient
    else:
        raise AssertionError("a transient error must reach the worker's back-off")


def test_a_changed_file_selection_gets_a_new_fetch_job() -> None:
    names = naming.Names(name="tiny", namespace="ml")
    settings = Settings(runtime_image="img:1")
    cached = spec(cache={"size": "1Gi"})
    narrowed = spec(cache={"size": "1Gi"}, model={"repo": "acme/tiny", "include": ["*.json"]})
    first = rollout.fetch_job_name(cached, names=names, settings=settings, commit=COMMIT_A)
    second = rollout.fetch_job_name(narrowed, names=names, settings=settings, commit=COMMIT_A)
    assert first != second  # a Job template is immutable: re-applying would be refused
    assert first == rollout.fetch_job_name(cached, names=names, settings=settings, commit=COMMIT_A)
    other_image = Settings(runtime_image="img:2")
    assert first != rollout.fetch_job_name(
        cached, names=names, settings=other_image, commit=COMMIT_A
    )


def test_a_fetch_job_name_fits_a_label_value_for_the_longest_name() -> None:
    names = naming.Names(name="n" * 45, namespace="ml")
    name = rollout.fetch_job_name(
        spec(cache={"size": "1Gi"}), names=names, settings=Settings(), commit=COMMIT_A
    )
    assert len(name) <= 63 and COMMIT_A[:6] in name


def test_a_job_of_an_older_selection_is_replaced_not_counted_as_fetched() -> None:
    reconciler, client = fakes.make()
    cached = {"model": {"repo": "acme/tiny", "include": ["*.json"]}, "cache": {"size": "1Gi"}}
    old_job = {
        "metadata": {
            "name": f"tiny-fetch-{COMMIT_A[:6]}-abc",
            "annotations": {naming.ANNOTATION_COMMIT: COMMIT_A},
        },
        "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    }
    asyncio.run(reconciler.reconcile(fakes.body(cached), fakes.view(jobs=[old_job])))
    assert client.deleted == [old_job["metadata"]["name"]]
    kinds = [o["kind"] for o in client.applied]
    assert "Job" in kinds and "Deployment" not in kinds  # not served before the new fetch
