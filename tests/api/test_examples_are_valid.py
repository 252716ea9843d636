"""Every shipped example passes the generated schema, the models and the semantic checks."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from modeldeploy.operator.api import validation
from tests.api.conftest import EXAMPLES, examples_of, load_yaml

DEPLOYMENTS = examples_of("ModelDeployment")
CACHES = examples_of("ModelCache")


def test_every_example_is_one_of_the_two_kinds() -> None:
    assert sorted(DEPLOYMENTS + CACHES) == EXAMPLES


def test_there_are_cpu_gpu_cached_and_vllm_examples() -> None:
    specs = [load_yaml(p)["spec"] for p in DEPLOYMENTS]
    assert any(s.get("gpu", {}).get("count", 0) == 0 for s in specs)
    assert any(s.get("gpu", {}).get("products") for s in specs)
    assert any("size" in s.get("cache", {}) for s in specs)
    assert any(s.get("runtime", {}).get("engine") == "vllm" for s in specs)


def test_a_deployment_example_uses_a_model_cache_example() -> None:
    cache_names = {load_yaml(p)["metadata"]["name"] for p in CACHES}
    named = {load_yaml(p)["spec"].get("cache", {}).get("name") for p in DEPLOYMENTS}
    assert cache_names & named


@pytest.mark.parametrize("path", DEPLOYMENTS, ids=lambda p: p.name)
def test_example_validates_against_generated_schema(
    path: Path, openapi_validator: jsonschema.Draft7Validator
) -> None:
    errors = list(openapi_validator.iter_errors(load_yaml(path)))
    assert errors == []


@pytest.mark.parametrize("path", DEPLOYMENTS, ids=lambda p: p.name)
def test_example_has_no_semantic_problems(path: Path) -> None:
    assert validation.validate_model_deployment(load_yaml(path)) == []


@pytest.mark.parametrize("path", CACHES, ids=lambda p: p.name)
def test_model_cache_example_validates_against_generated_schema(
    path: Path, cache_openapi_validator: jsonschema.Draft7Validator
) -> None:
    assert list(cache_openapi_validator.iter_errors(load_yaml(path))) == []


@pytest.mark.parametrize("path", CACHES, ids=lambda p: p.name)
def test_model_cache_example_has_no_semantic_problems(path: Path) -> None:
    assert validation.validate_model_cache(load_yaml(path)) == []
