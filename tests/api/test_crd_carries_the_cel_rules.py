"""The generated CRDs carry each CEL rule at its field, explained, and bounded for its cost.

The API server alone evaluates CEL (tests/e2e applies a case for every rule); these tests
pin where the rules sit, that each failure says why and names a field, and that every value
a rule walks has a bound the API server's cost estimate can use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modeldeploy.operator.api import crd, resource, rules
from modeldeploy.operator.api.types import MAX_CACHE_NAME_LENGTH

SCHEMA = crd.openapi_schema()
CACHE_SCHEMA = crd.openapi_schema(definition=crd.MODEL_CACHE)

EXPECTED = [
    ("spec", rules.NO_GPU_IN_REQUESTS),
    ("spec", rules.NO_GPU_IN_LIMITS),
    ("spec.model.repo", rules.REPO_NO_DOUBLE_DASH_OR_DOTS),
    ("spec.model.repo", rules.REPO_NO_GIT_SUFFIX),
    ("spec.model.revision", rules.REVISION_IS_A_REF_NAME),
    ("spec.model.include[]", rules.PATH_INSIDE_REPOSITORY),
    ("spec.model.sha256", rules.KEYS_INSIDE_REPOSITORY),
    ("spec.gpu", rules.PRODUCTS_NEED_GPUS),
    ("spec.gpu", rules.MIN_MEMORY_NEEDS_GPUS),
    ("spec.gpu.products", rules.NO_DUPLICATE_PRODUCT),
    ("spec.gpu.minMemory", rules.POSITIVE_QUANTITY),
    ("spec.resources", rules.REQUESTS_WITHIN_LIMITS),
    ("spec.cache", rules.SIZE_WITHOUT_NAME),
    *(("spec.cache", rule) for rule in rules.INLINE_FIELDS_NOT_WITH_NAME),
    ("spec.cache.size", rules.POSITIVE_QUANTITY),
    ("spec.placement.tolerations[]", rules.EXISTS_HAS_NO_VALUE),
    ("spec.fallbacks[].repo", rules.REPO_NO_DOUBLE_DASH_OR_DOTS),
    ("spec.fallbacks[].repo", rules.REPO_NO_GIT_SUFFIX),
    ("spec.fallbacks[].revision", rules.REVISION_IS_A_REF_NAME),
    ("spec.fallbacks[].include[]", rules.PATH_INSIDE_REPOSITORY),
    ("spec.fallbacks[].sha256", rules.KEYS_INSIDE_REPOSITORY),
    ("spec.fallbackPolicy.retryPreferredEvery", rules.AT_LEAST_A_MINUTE),
    ("spec.fallbackPolicy.transientGrace", rules.POSITIVE_DURATION),
    ("spec.runtime", rules.ENGINE_ARGS_NEED_VLLM),
]

CACHE_EXPECTED = [
    ("spec.storage.size", rules.POSITIVE_QUANTITY),
    ("spec.storage.accessMode", rules.SHARED_ACCESS_MODE),
    ("spec.preload[].repo", rules.REPO_NO_DOUBLE_DASH_OR_DOTS),
    ("spec.preload[].repo", rules.REPO_NO_GIT_SUFFIX),
    ("spec.preload[].revision", rules.REVISION_IS_A_REF_NAME),
    ("spec.preload[].include[]", rules.PATH_INSIDE_REPOSITORY),
    ("spec.preload[].sha256", rules.KEYS_INSIDE_REPOSITORY),
    ("spec.verify.every", rules.AT_LEAST_A_MINUTE),
    ("spec.retention", rules.WATERMARKS_ORDERED),
    ("spec.retention.maxUnusedFor", rules.POSITIVE_DURATION),
]


def _node(path: str, schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    node = schema
    for part in path.split("."):
        name = part.removesuffix("[]").removesuffix("{}")
        node = node["properties"][name]
        if part.endswith("[]"):
            node = node["items"]
        elif part.endswith("{}"):
            node = node["additionalProperties"]
    return node


def _rules(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for entry in node.get("x-kubernetes-validations", []):
        yield path, entry
    for name, sub in node.get("properties", {}).items():
        yield from _rules(sub, f"{path}.{name}".lstrip("."))
    if isinstance(node.get("items"), dict):
        yield from _rules(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _rules(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize(
    ("path", "rule"), EXPECTED, ids=[f"{p}:{r['rule'][:30]}" for p, r in EXPECTED]
)
def test_rule_sits_at_its_field(path: str, rule: dict[str, Any]) -> None:
    assert rule in _node(path).get("x-kubernetes-validations", [])


@pytest.mark.parametrize(
    ("path", "rule"), CACHE_EXPECTED, ids=[f"{p}:{r['rule'][:30]}" for p, r in CACHE_EXPECTED]
)
def test_model_cache_rule_sits_at_its_field(path: str, rule: dict[str, Any]) -> None:
    assert rule in _node(path, CACHE_SCHEMA).get("x-kubernetes-validations", [])


def test_the_crd_has_no_other_rules() -> None:
    found = sorted((p, r["rule"]) for p, r in _rules(SCHEMA))
    assert found == sorted((p, r["rule"]) for p, r in EXPECTED)


def test_the_model_cache_crd_has_no_other_rules() -> None:
    found = sorted((p, r["rule"]) for p, r in _rules(CACHE_SCHEMA))
    assert found == sorted((p, r["rule"]) for p, r in CACHE_EXPECTED)


ALL_RULES = [(SCHEMA, p, r) for p, r in _rules(SCHEMA)] + [
    (CACHE_SCHEMA, p, r) for p, r in _rules(CACHE_SCHEMA)
]


@pytest.mark.parametrize(
    ("schema", "path", "rule"),
    ALL_RULES,
    ids=[f"{s['properties']['kind']['description']}:{p}:{r['rule'][:30]}" for s, p, r in ALL_RULES],
)
def test_every_rule_says_why_and_names_a_declared_field(
    schema: dict[str, Any], path: str, rule: dict[str, Any]
) -> None:
    assert rule.get("message") or rule.get("messageExpression")
    assert rule.get("reason") in (
        None, "FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired"
    )  # fmt: skip
    if "fieldPath" in rule:
        # The API server refuses a CRD whose fieldPath is not a field of the rule's node.
        target = ".".join(part for part in (path, rule["fieldPath"].lstrip(".")) if part)
        assert _node(target, schema)["description"]


BOUNDED = [
    ("spec.model.repo", "maxLength"),
    ("spec.model.revision", "maxLength"),
    ("spec.model.include", "maxItems"),
    ("spec.model.include[]", "maxLength"),
    ("spec.model.sha256", "maxProperties"),
    ("spec.gpu.products", "maxItems"),
    ("spec.gpu.products[]", "maxLength"),
    ("spec.gpu.resourceName", "maxLength"),
    ("spec.gpu.minMemory", "maxLength"),
    ("spec.resources.requests", "maxProperties"),
    ("spec.resources.requests{}", "maxLength"),
    ("spec.resources.limits", "maxProperties"),
    ("spec.resources.limits{}", "maxLength"),
    ("spec.cache.size", "maxLength"),
    ("spec.placement.tolerations", "maxItems"),
    ("spec.runtime.engineArgs", "maxItems"),
]


CACHE_BOUNDED = [
    ("spec.storage.size", "maxLength"),
    ("spec.preload", "maxItems"),
    ("spec.preload[].repo", "maxLength"),
    ("spec.preload[].revision", "maxLength"),
    ("spec.preload[].include", "maxItems"),
    ("spec.preload[].include[]", "maxLength"),
    ("spec.preload[].sha256", "maxProperties"),
    ("spec.verify.every", "maxLength"),
    ("spec.retention.maxUnusedFor", "maxLength"),
]


@pytest.mark.parametrize(("path", "bound"), BOUNDED, ids=[p for p, _ in BOUNDED])
def test_what_a_rule_walks_is_bounded(path: str, bound: str) -> None:
    assert isinstance(_node(path).get(bound), int)


@pytest.mark.parametrize(("path", "bound"), CACHE_BOUNDED, ids=[p for p, _ in CACHE_BOUNDED])
def test_what_a_model_cache_rule_walks_is_bounded(path: str, bound: str) -> None:
    assert isinstance(_node(path, CACHE_SCHEMA).get(bound), int)


@pytest.mark.parametrize(
    ("schema", "longest"),
    [(SCHEMA, resource.MAX_NAME_LENGTH), (CACHE_SCHEMA, MAX_CACHE_NAME_LENGTH)],
    ids=["ModelDeployment", "ModelCache"],
)
def test_the_name_rule_is_in_the_schema(schema: dict[str, Any], longest: int) -> None:
    name = schema["properties"]["metadata"]["properties"]["name"]
    assert name["maxLength"] == longest
    assert name["pattern"] == resource.NAME_PATTERN
    # The API server forbids any other restriction of metadata in a CRD.
    assert set(schema["properties"]["metadata"]["properties"]) == {"name"}


def test_a_cache_name_can_name_a_model_cache() -> None:
    """spec.cache.name accepts exactly the names a ModelCache may have."""
    cache_name = _node("spec.cache.name")
    name = CACHE_SCHEMA["properties"]["metadata"]["properties"]["name"]
    assert (cache_name["pattern"], cache_name["maxLength"]) == (name["pattern"], name["maxLength"])
