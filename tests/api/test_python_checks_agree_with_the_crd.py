"""validate_model_deployment refuses what the API server refuses at apply, naming the same field.

The API server is the judge of the CEL rules (tests/e2e applies the same table); here the
Python side is held to it, and the OpenAPI part is checked with jsonschema as well.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from modeldeploy.operator.api import types, validation
from tests.api.refused_at_apply import ACCEPTED, REFUSED, REFUSED_BY_SCHEMA, Manifest, Refused


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_python_refuses_and_names_the_field(case: Refused) -> None:
    paths = [p.path for p in validation.validate_model_deployment(case.body())]
    assert any(p.startswith(case.field) for p in paths), paths


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_python_accepts_what_the_api_server_accepts(case: Manifest) -> None:
    assert validation.validate_model_deployment(case.body()) == []


# Unknown fields are refused by the API server's strict decoding, not by the schema.
_SCHEMA_CASES = [c for c in REFUSED_BY_SCHEMA if c.id != "toleration-unknown-field"]


@pytest.mark.parametrize("case", _SCHEMA_CASES, ids=lambda c: c.id)
def test_openapi_part_refuses_at_the_field(
    case: Refused, openapi_validator: jsonschema.Draft7Validator
) -> None:
    paths = [_path(e) for e in openapi_validator.iter_errors(case.body())]
    assert case.field in paths, paths


def _path(error: jsonschema.ValidationError) -> str:
    """The API server's spelling of a path: spec.placement.tolerations[0].operator."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)[1:]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_openapi_part_accepts_the_edge_cases(
    case: Manifest, openapi_validator: jsonschema.Draft7Validator
) -> None:
    assert list(openapi_validator.iter_errors(_without_nulls(case.body()))) == []


def _without_nulls(value: Any) -> Any:
    """What the API server validates: it drops the nulls of fields that are not nullable."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


QUANTITIES = ["1", "0", "40Gi", "500m", "0.5", "1.5Gi", "12E", "7Ki",
              "", "-1", "+1", "1e3", ".5", "5.", "1 Gi", " 1Gi", "1gi", "1KB",
              "1" * 65]  # fmt: skip


@pytest.mark.parametrize("text", QUANTITIES, ids=repr)
def test_the_crd_pattern_and_python_read_the_same_quantities(
    text: str, openapi_validator: jsonschema.Draft7Validator
) -> None:
    try:
        types.check_quantity(text)
        python_accepts = True
    except ValueError:
        python_accepts = False
    body = Manifest("q", {"cache": {"size": text}}).body()
    schema_accepts = not list(openapi_validator.iter_errors(body))
    assert python_accepts == schema_accepts
