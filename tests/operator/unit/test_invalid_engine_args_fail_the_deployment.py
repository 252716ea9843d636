"""A ModelDeployment whose engine arguments the allow-list refuses (accepted at apply: the API
server cannot judge them) is Failed with reason InvalidEngineArgs and the argument named, and
no child is created; other spec problems keep reason InvalidSpec."""

from __future__ import annotations

import asyncio
from typing import Any

from modeldeploy.operator.api.validation import Problem
from modeldeploy.operator.planners import status as status_planner
from tests.operator.unit import reconcile_fakes as fakes

VLLM = {"engine": "vllm", "engineArgs": ["--max-model-len=4096", "--trust-remote-code"]}


def reconcile(spec: dict[str, Any]) -> fakes.FakeKube:
    reconciler, client = fakes.make()
    asyncio.run(reconciler.reconcile(fakes.body(spec), fakes.view()))
    return client


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_a_refused_engine_argument_fails_with_invalid_engine_args_and_no_children() -> None:
    client = reconcile({"model": {"repo": "acme/tiny"}, "runtime": VLLM})
    assert client.applied == []
    status = client.patches[-1]
    assert status["phase"] == "Failed"
    for kind in ("SpecValid", "Ready"):
        found = condition(status, kind)
        assert found["status"] == "False" and found["reason"] == "InvalidEngineArgs"
        assert "spec.runtime.engineArgs: --trust-remote-code is not allowed" in found["message"]
    assert any(reason == "InvalidEngineArgs" for _, reason, _ in client.events)


def test_allowed_engine_arguments_deploy() -> None:
    runtime = {"engine": "vllm", "engineArgs": ["--max-model-len=4096"]}
    client = reconcile({"model": {"repo": "acme/tiny"}, "runtime": runtime})
    assert "Deployment" in {o["kind"] for o in client.applied}
    assert condition(client.patches[-1], "SpecValid")["status"] == "True"


def test_the_reason_is_invalid_spec_when_anything_else_is_wrong_too() -> None:
    problems = [
        Problem("spec.runtime.engineArgs", "--hf-token is not allowed"),
        Problem("spec.placement.affinity.podAffinity", "must be an object"),
    ]
    assert status_planner.invalid_spec_reason(problems) == "InvalidSpec"
    assert status_planner.invalid_spec_reason(problems[:1]) == "InvalidEngineArgs"
    assert status_planner.invalid_spec_reason(problems[1:]) == "InvalidSpec"
