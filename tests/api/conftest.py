"""Fixtures for the API tests: the generated CRD schemas as JSON Schema validators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from modeldeploy.operator.api import crd

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.yaml"))


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def examples_of(kind: str) -> list[Path]:
    return [path for path in EXAMPLES if load_yaml(path)["kind"] == kind]


@pytest.fixture(scope="session")
def openapi_validator() -> jsonschema.Draft7Validator:
    """The CRD's openAPIV3Schema checked with jsonschema.

    jsonschema ignores the x-kubernetes-* extensions and CEL rules; the real API server
    is the judge of those (tests/e2e). Types, enums, bounds and patterns are the same.
    """
    return jsonschema.Draft7Validator(crd.openapi_schema())


@pytest.fixture(scope="session")
def cache_openapi_validator() -> jsonschema.Draft7Validator:
    """The ModelCache CRD's openAPIV3Schema checked with jsonschema (see openapi_validator)."""
    return jsonschema.Draft7Validator(crd.openapi_schema(definition=crd.MODEL_CACHE))
