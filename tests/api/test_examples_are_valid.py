"""Every shipped example passes the generated schema, the models and the semantic checks."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from modeldeploy.operator.api import validation
from tests.api.conftest import EXAMPLES, load_yaml


def test_there_are_cpu_gpu_and_cached_examples() -> None:
    specs = [load_yaml(p)["spec"] for p in EXAMPLES]
    assert any(s.get("gpu", {}).get("count", 0) == 0 for s in specs)
    assert any(s.get("gpu", {}).get("products") for s in specs)
    assert any("cache" in s for s in specs)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_against_generated_schema(
    path: Path, openapi_validator: jsonschema.Draft7Validator
) -> None:
    errors = list(openapi_validator.iter_errors(load_yaml(path)))
    assert errors == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_has_no_semantic_problems(path: Path) -> None:
    assert validation.validate_model_deployment(load_yaml(path)) == []
