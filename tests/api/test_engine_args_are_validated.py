"""spec.runtime.engine and engineArgs: vLLM arguments pass the allow-list of
`modeldeploy.engine_args` or the spec is refused naming the argument and why (the operator
reports InvalidEngineArgs; the API server cannot judge the list, so it accepts them); engine
arguments with the builtin engine, which would ignore them, are refused by both."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from modeldeploy.operator.api import validation


def manifest(runtime: dict[str, Any], *, gpus: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": {"repo": "acme/tiny-llama"}, "runtime": runtime}
    if gpus:
        spec["gpu"] = {"count": gpus}
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "tiny"},
        "spec": spec,
    }


def vllm(*args: str, gpus: int = 0) -> dict[str, Any]:
    return manifest({"engine": "vllm", "engineArgs": list(args)}, gpus=gpus)


REFUSED = [
    (["--trust-remote-code"], "--trust-remote-code is not allowed"),
    (["--load-format=dummy"], "--load-format is not allowed"),
    (["--download-dir", "/tmp/x"], "--download-dir is not allowed"),
    (["--served-model-name=x"], "set from spec.runtime.servedModelName"),
    (["--max-model-len=lots"], "--max-model-len='lots'"),
    (["--gpu-memory-utilization=1.5"], "--gpu-memory-utilization='1.5'"),
    (["--max-model-len"], "--max-model-len needs a value"),
    (["--not-a-vllm-flag=1"], "'--not-a-vllm-flag=1' is not on the allow-list"),
    (["4096"], "'4096': expected a flag"),
]


@pytest.mark.parametrize(("args", "says"), REFUSED, ids=[a[0] for a, _ in REFUSED])
def test_a_bad_engine_argument_is_named_at_engine_args(args: list[str], says: str) -> None:
    problems = validation.validate_model_deployment(vllm(*args))
    assert [p.path for p in problems] == [validation.ENGINE_ARGS_PATH]
    assert says in problems[0].message


def test_allowed_arguments_in_either_form_pass() -> None:
    body = vllm("--max-model-len", "4096", "--kv_cache_dtype=fp8", "--enforce-eager", gpus=1)
    assert validation.validate_model_deployment(body) == []


def test_engine_args_with_the_builtin_engine_are_refused() -> None:
    for runtime in ({"engineArgs": ["--enforce-eager"]},
                    {"engine": "builtin", "engineArgs": ["--enforce-eager"]}):  # fmt: skip
        problems = validation.validate_model_deployment(manifest(runtime))
        assert [p.path for p in problems] == [validation.ENGINE_ARGS_PATH]
        assert "need engine vllm" in problems[0].message


def test_a_tensor_parallel_size_beyond_the_gpus_is_refused() -> None:
    problems = validation.validate_model_deployment(vllm("--tensor-parallel-size=4", gpus=2))
    assert [str(p) for p in problems] == [
        "spec.runtime.engineArgs: --tensor-parallel-size=4 needs 4 GPUs per replica; "
        "spec.gpu.count is 2"
    ]
    assert validation.validate_model_deployment(vllm("--tensor-parallel-size=2", gpus=4)) == []


def test_the_api_server_schema_leaves_the_allow_list_to_the_operator(
    openapi_validator: jsonschema.Draft7Validator,
) -> None:
    # Accepted at apply, so the object reaches the operator, which says InvalidEngineArgs.
    assert list(openapi_validator.iter_errors(vllm("--trust-remote-code"))) == []


def test_engine_defaults_to_builtin() -> None:
    parsed = validation.parse_model_deployment(manifest({}))
    assert parsed.spec.runtime.engine.value == "builtin"
    assert parsed.spec.runtime.engine_args == []
