"""Bad ModelDeployments fail with messages that name the field at fault."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from modeldeploy.operator.api import validation

GOOD: dict[str, Any] = {
    "apiVersion": "modeldeploy.io/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "tiny"},
    "spec": {"model": {"repo": "acme/tiny-llama"}},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(GOOD)
    *parents, leaf = path.split(".")
    node = obj
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return obj


# (field path, bad value): rejected by the schema (API server) and by the models.
SCHEMA_CASES = [
    ("spec.replicas", "two"),  # wrong type
    ("spec.replicas", -1),
    ("spec.task", "chat"),  # unknown enum value
    ("spec.gpu.count", -1),  # negative GPUs
    ("spec.model.repo", "acme/tiny llama"),  # bad repo id
    ("spec.model.repo", "/etc/passwd"),
    ("spec.model.revision", "-rf"),  # bad revision
    ("spec.model.revision", "a" * 300),
    ("spec.model.sha256", {"model.safetensors": "not-a-digest"}),
    ("spec.runtime.dtype", "int4"),
    ("spec.cache", {"size": "lots"}),
    ("spec.cache.name", "Shared_Cache"),
    ("spec.model.allowPickle", "yes"),
]


@pytest.mark.parametrize(
    "path,value", SCHEMA_CASES, ids=[f"{p}={v!r}"[:40] for p, v in SCHEMA_CASES]
)
def test_models_reject_and_name_the_field(path: str, value: Any) -> None:
    problems = validation.validate_model_deployment(_with(path, value))
    assert problems, "accepted a bad manifest"
    assert any(p.path.startswith(path) for p in problems), problems


@pytest.mark.parametrize(
    "path,value", SCHEMA_CASES, ids=[f"{p}={v!r}"[:40] for p, v in SCHEMA_CASES]
)
def test_schema_rejects_at_the_field(
    path: str, value: Any, openapi_validator: jsonschema.Draft7Validator
) -> None:
    errors = list(openapi_validator.iter_errors(_with(path, value)))
    assert errors, "the schema accepted a bad manifest"
    paths = [".".join(str(p) for p in e.absolute_path) for e in errors]
    assert any(p.startswith(path) for p in paths), paths


# Rules beyond types and patterns (the CRD states most as CEL rules, see refused_at_apply.py):
# the Python check reports each exactly once, at its precise path.
SEMANTIC_CASES = [
    ("spec.model.revision", "feature..x", "spec.model.revision"),
    ("spec.model.repo", "acme/tiny--llama", "spec.model.repo"),
    ("spec.model.include", ["../secrets/*"], "spec.model.include[0]"),
    ("spec.model.sha256", {"/abs.bin": "a" * 64}, "spec.model.sha256./abs.bin"),
    ("spec.resources", {"limits": {"nvidia.com/gpu": 1}}, "spec.resources.limits.nvidia.com/gpu"),
    (
        "spec.resources",
        {"requests": {"cpu": "4"}, "limits": {"cpu": "2"}},
        "spec.resources.requests.cpu",
    ),
    ("spec.gpu", {"count": 1, "minMemory": 0}, "spec.gpu.minMemory"),
    ("spec.gpu", {"count": 1, "products": ["T4", "T4"]}, "spec.gpu.products"),
    (
        "spec.placement",
        {"tolerations": [{"operator": "Maybe"}]},
        "spec.placement.tolerations[0].operator",
    ),
    ("spec.cache", {"name": "shared", "size": "1Gi"}, "spec.cache.size"),
    ("spec.cache", {"name": "shared", "retention": "Delete"}, "spec.cache.retention"),
    ("spec.cache", {"accessMode": "ReadWriteOnce"}, "spec.cache.size"),
    ("metadata.name", "9-lives", "metadata.name"),
    ("metadata.name", "x" * 60, "metadata.name"),
]


@pytest.mark.parametrize("path,value,expected", SEMANTIC_CASES, ids=[c[2] for c in SEMANTIC_CASES])
def test_semantic_rules_name_the_field(path: str, value: Any, expected: str) -> None:
    problems = validation.validate_model_deployment(_with(path, value))
    assert [p.path for p in problems] == [expected], problems


def test_every_problem_is_reported_not_only_the_first() -> None:
    obj = _with("spec.gpu", {"count": 1, "products": ["T4", "T4"], "minMemory": 0})
    obj["spec"]["model"]["include"] = ["/x", "../y"]
    paths = [p.path for p in validation.validate_model_deployment(obj)]
    assert paths == ["spec.gpu.minMemory", "spec.gpu.products", "spec.model.include[0]",
                     "spec.model.include[1]"]  # fmt: skip


def test_parse_raises_with_all_problems() -> None:
    with pytest.raises(validation.InvalidModelDeploymentError) as info:
        validation.parse_model_deployment(_with("spec.gpu.count", -2))
    assert "spec.gpu.count" in str(info.value)
    assert info.value.problems[0].path == "spec.gpu.count"


def test_a_named_cache_with_every_inline_field_names_each() -> None:
    obj = _with("spec.cache", {"name": "shared", "size": "1Gi", "storageClassName": "fast",
                               "accessMode": "ReadWriteOnce", "retention": "Retain"})  # fmt: skip
    paths = [p.path for p in validation.validate_model_deployment(obj)]
    assert paths == ["spec.cache.accessMode", "spec.cache.retention", "spec.cache.size",
                     "spec.cache.storageClassName"]  # fmt: skip


def test_parse_model_cache_raises_with_all_problems() -> None:
    body = {"apiVersion": "modeldeploy.io/v1alpha1", "kind": "ModelCache",
            "metadata": {"name": "shared"},
            "spec": {"storage": {"size": "0"}, "verify": {"every": "10s"},
                     "retention": {"lowWatermark": 95}}}  # fmt: skip
    with pytest.raises(validation.InvalidModelCacheError) as info:
        validation.parse_model_cache(body)
    assert [p.path for p in info.value.problems] == [
        "spec.retention.lowWatermark", "spec.storage.size", "spec.verify.every"
    ]  # fmt: skip
    assert isinstance(info.value, validation.InvalidObjectError)
    body["spec"] = {"storage": {"size": "1Gi"}}
    assert validation.parse_model_cache(body).spec.retention.low_watermark == 75
