"""Translate a pydantic JSON Schema into a Kubernetes structural OpenAPI v3 schema.

What the API server needs and pydantic does not give (see docs/crd-schema.md):
no `$ref`, a `type` on every node, `Optional[X]` as plain X, no `const`/`title`/
`examples`, `minimum`/`maximum` instead of exclusive bounds, structure outside any
`anyOf`, and defaults that validate against their own node.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_DROPPED_KEYS = frozenset({"title", "examples", "$schema", "$id", "discriminator"})
_ALLOWED_FORMATS = frozenset({"date-time", "date", "byte", "int32", "int64", "double", "float"})


class SchemaError(ValueError):
    """The model uses a JSON Schema construct this translator cannot express."""


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of `model` (by alias, validation mode)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _translate(raw, definitions, path=model.__name__)


def _translate(node: dict[str, Any], defs: dict[str, Any], *, path: str) -> dict[str, Any]:
    node = _inline_ref(node, defs)
    node = _drop_null_branch(node, defs)
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"{path}: anyOf over different types cannot be structural")
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_translate_key(key, value, defs, path=path))
    if "enum" in out and "type" not in out:
        out["type"] = _enum_type(out["enum"], path=path)
    if "type" not in out and not _untyped_allowed(out):
        raise SchemaError(f"{path}: every node needs a type")
    if "default" in out:
        out["default"] = _prune_default(out["default"], out)
    return _ordered(out)


def _translate_key(key: str, value: Any, defs: dict[str, Any], *, path: str) -> dict[str, Any]:
    """One key of a node, translated: {} drops it."""
    if key in _DROPPED_KEYS:
        return {}
    if key in ("exclusiveMinimum", "exclusiveMaximum"):
        raise SchemaError(f"{path}: use ge/le bounds, not gt/lt ({key})")
    if key == "const":
        return {"enum": [value]}
    if key == "properties":
        return {key: {n: _translate(v, defs, path=f"{path}.{n}") for n, v in value.items()}}
    if key == "items":
        return {key: _translate(value, defs, path=f"{path}[]")}
    if key == "additionalProperties":
        keep = isinstance(value, dict)
        return {key: _translate(value, defs, path=f"{path}{{}}")} if keep else {}
    if key == "format":
        return {key: value} if value in _ALLOWED_FORMATS else {}
    return {key: value}


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """type and description first, then the rest alphabetically: a readable CRD."""
    head = [k for k in ("type", "description") if k in node]
    return {k: node[k] for k in head + sorted(k for k in node if k not in head)}


def _inline_ref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = dict(defs[ref.rsplit("/", 1)[-1]])
    # A field's own description and default win over the referenced model's.
    target.update({k: v for k, v in node.items() if k != "$ref"})
    return _inline_ref(target, defs)


def _drop_null_branch(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, {type: null}]` (an Optional) becomes X, keeping the outer keys."""
    branches = node.get("anyOf")
    if not branches:
        return node
    non_null = [b for b in branches if b.get("type") != "null"]
    if len(non_null) == len(branches):
        return node
    if len(non_null) != 1:
        raise SchemaError(f"optional of a union is not structural: {branches}")
    merged = _inline_ref(dict(non_null[0]), defs)
    merged.update({k: v for k, v in node.items() if k != "anyOf"})
    if merged.get("default", ...) is None:
        del merged["default"]
    return _drop_null_branch(merged, defs)


def _enum_type(values: list[Any], *, path: str) -> str:
    kinds = {type(v) for v in values}
    if kinds == {str}:
        return "string"
    if kinds <= {int}:
        return "integer"
    if kinds <= {bool}:
        return "boolean"
    raise SchemaError(f"{path}: mixed enum {values}")


def _untyped_allowed(node: dict[str, Any]) -> bool:
    return bool(
        node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    )


def _prune_default(value: Any, node: dict[str, Any]) -> Any:
    """An object default without what the API server would fill in anyway.

    Nulls, empty collections and values equal to their property's own default go; what
    is left is the part of the default that says something (e.g. `gpu: {count: 0}`).
    """
    if not isinstance(value, dict) or "properties" not in node:
        return value
    pruned: dict[str, Any] = {}
    for key, raw in value.items():
        prop = node["properties"].get(key, {})
        sub = _prune_default(raw, prop)
        if sub is None or sub in ([], {}) or prop.get("default", ...) == sub:
            continue
        pruned[key] = sub
    return pruned
