"""`spec.runtime.{maxQueue, maxBatch, requestTimeout, apiKeySecretRef}`: in range they are
accepted by the CRD schema and the models alike; out of range both refuse, naming the field and
the bound; apiKeySecretRef has the shape of tokenSecretRef (key `token` by default)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from modeldeploy.operator.api import validation
from modeldeploy.operator.api.spec import ModelDeploymentSpec


def manifest(runtime: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "tiny"},
        "spec": {"model": {"repo": "acme/tiny-llama"}, "runtime": runtime},
    }


IN_RANGE = [
    {"maxQueue": 1, "maxBatch": 1, "requestTimeout": 0},
    {"maxQueue": 100000, "maxBatch": 1024, "requestTimeout": 86400},
    {"apiKeySecretRef": {"name": "chat-api-key", "key": "api-key"}},
]

OUT_OF_RANGE = [
    ("maxQueue", 0, "must be greater than or equal to 1"),
    ("maxQueue", 100001, "must be less than or equal to 100000"),
    ("maxBatch", 0, "must be greater than or equal to 1"),
    ("maxBatch", 1025, "must be less than or equal to 1024"),
    ("requestTimeout", -1, "must be greater than or equal to 0"),
    ("requestTimeout", 86401, "must be less than or equal to 86400"),
    ("requestTimeout", "10m", "must be a valid integer"),
    ("maxBatch", 2.5, "must be a valid integer"),
]


@pytest.mark.parametrize("runtime", IN_RANGE)
def test_values_in_range_are_accepted_by_schema_and_models(
    runtime: dict[str, Any], openapi_validator: jsonschema.Draft7Validator
) -> None:
    assert list(openapi_validator.iter_errors(manifest(runtime))) == []
    assert validation.validate_model_deployment(manifest(runtime)) == []


@pytest.mark.parametrize(("field", "value", "says"), OUT_OF_RANGE)
def test_values_out_of_range_are_refused_naming_the_field_and_bound(
    field: str, value: Any, says: str, openapi_validator: jsonschema.Draft7Validator
) -> None:
    problems = validation.validate_model_deployment(manifest({field: value}))
    assert [(p.path, p.message) for p in problems] == [(f"spec.runtime.{field}", says)]
    errors = list(openapi_validator.iter_errors(manifest({field: value})))
    assert [list(e.absolute_path) for e in errors] == [["spec", "runtime", field]]


def test_the_api_key_secret_needs_a_name_and_defaults_its_key_to_token() -> None:
    problems = validation.validate_model_deployment(manifest({"apiKeySecretRef": {}}))
    assert [p.path for p in problems] == ["spec.runtime.apiKeySecretRef.name"]
    spec = ModelDeploymentSpec.model_validate(
        {"model": {"repo": "a/b"}, "runtime": {"apiKeySecretRef": {"name": "keys"}}}
    )
    assert spec.runtime.api_key_secret_ref is not None
    assert (spec.runtime.api_key_secret_ref.name, spec.runtime.api_key_secret_ref.key) == (
        "keys",
        "token",
    )


def test_unset_bounds_leave_the_runtimes_defaults() -> None:
    runtime = ModelDeploymentSpec.model_validate({"model": {"repo": "a/b"}}).runtime
    assert (runtime.max_queue, runtime.max_batch, runtime.request_timeout) == (None, None, None)
    assert runtime.api_key_secret_ref is None
