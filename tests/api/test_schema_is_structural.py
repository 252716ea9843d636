"""The generated schemas (both kinds) obey the rules of a Kubernetes structural schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from modeldeploy.operator.api import crd, schema

_UNTYPED_OK = ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields")
_FORBIDDEN = {"$ref", "$defs", "const", "title", "examples", "exclusiveMinimum", "exclusiveMaximum"}
_STRUCTURE = {"type", "properties", "items", "additionalProperties", "description", "default"}


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


SCHEMAS = {d.kind: crd.openapi_schema(definition=d) for d in crd.DEFINITIONS}
NODES = [(kind, path, node) for kind, schema in SCHEMAS.items() for path, node in _nodes(schema)]


@pytest.mark.parametrize("kind,path,node", NODES, ids=[f"{k}{p}" for k, p, _ in NODES])
def test_every_node_is_structural(kind: str, path: str, node: dict[str, Any]) -> None:
    assert "type" in node or any(node.get(k) for k in _UNTYPED_OK), f"{path} has no type"
    assert not (_FORBIDDEN & node.keys()), f"{path} carries {_FORBIDDEN & node.keys()}"
    assert not ("properties" in node and "additionalProperties" in node), path
    for branch in node.get("anyOf", []):
        assert not (_STRUCTURE - {"type"}) & branch.keys(), f"{path}: structure inside anyOf"


@pytest.mark.parametrize("kind", SCHEMAS)
def test_every_spec_and_status_field_has_a_description(kind: str) -> None:
    openapi = SCHEMAS[kind]
    for root in ("spec", "status"):
        for path, node in _nodes(openapi["properties"][root], root):
            if path.endswith(("[]", "{}")):
                continue
            assert node.get("description"), f"{path} has no description for kubectl explain"


def test_translator_refuses_exclusive_bounds() -> None:
    class Bad(BaseModel):
        x: int = Field(gt=0)

    with pytest.raises(schema.SchemaError, match="ge/le"):
        schema.structural_schema(Bad)


def test_translator_refuses_unions_it_cannot_express() -> None:
    class Bad(BaseModel):
        x: int | str

    with pytest.raises(schema.SchemaError, match="anyOf"):
        schema.structural_schema(Bad)


def test_optional_becomes_plain_type_without_null_default() -> None:
    class M(BaseModel):
        x: int | None = None

    node = schema.structural_schema(M)["properties"]["x"]
    assert node == {"type": "integer"}
