"""The generated CRD carries each CEL rule at its field, explained, and bounded for its cost.

The API server alone evaluates CEL (tests/e2e applies a case for every rule); these tests
pin where the rules sit, that each failure says why and names a field, and that every value
a rule walks has a bound the API server's cost estimate can use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modeldeploy.operator.api import crd, resource, rules

SCHEMA = crd.openapi_schema()

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
    ("spec.cache.size", rules.POSITIVE_QUANTITY),
    ("spec.placement.tolerations[]", rules.EXISTS_HAS_NO_VALUE),
]


def _node(path: str) -> dict[str, Any]:
    node = SCHEMA
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


def test_the_crd_has_no_other_rules() -> None:
    found = sorted((p, r["rule"]) for p, r in _rules(SCHEMA))
    assert found == sorted((p, r["rule"]) for p, r in EXPECTED)


@pytest.mark.parametrize(("path", "rule"), list(_rules(SCHEMA)), ids=lambda x: str(x)[:40])
def test_every_rule_says_why_and_names_a_declared_field(path: str, rule: dict[str, Any]) -> None:
    assert rule.get("message") or rule.get("messageExpression")
    assert rule.get("reason") in (None, "FieldValueInvalid", "FieldValueForbidden")
    if "fieldPath" in rule:
        # The API server refuses a CRD whose fieldPath is not a field of the rule's node.
        target = ".".join(part for part in (path, rule["fieldPath"].lstrip(".")) if part)
        assert _node(target)["description"]


BOUNDED = [
    ("spec.model.repo", "maxLength"),
    ("spec.model.revision", "maxLength"),
    ("spec.model.include", "maxItems"),
    ("spec.model.include[]", "maxLength"),
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
]


@pytest.mark.parametrize(("path", "bound"), BOUNDED, ids=[p for p, _ in BOUNDED])
def test_what_a_rule_walks_is_bounded(path: str, bound: str) -> None:
    assert isinstance(_node(path).get(bound), int)


def test_the_name_rule_is_in_the_schema() -> None:
    name = SCHEMA["properties"]["metadata"]["properties"]["name"]
    assert name["maxLength"] == resource.MAX_NAME_LENGTH
    assert name["pattern"] == resource.NAME_PATTERN
    # The API server forbids any other restriction of metadata in a CRD.
    assert set(SCHEMA["properties"]["metadata"]["properties"]) == {"name"}
