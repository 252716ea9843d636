"""Reusable field types of the API, each carrying its own OpenAPI schema.

Kubernetes needs a few things JSON Schema cannot say (int-or-string quantities,
pass-through objects); the schema for those is attached here, next to the type, so the
CRD generator stays a plain translator.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema
from pydantic.alias_generators import to_camel

QUANTITY_PATTERN = (
    r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"  # the API server's own quantity grammar
)
_QUANTITY_RE = re.compile(
    r"^(?P<num>[0-9]+(?:\.[0-9]+)?)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$"
)
_SUFFIX_FACTORS: dict[str, float] = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def parse_quantity(value: str | int) -> float:
    """A Kubernetes quantity ("40Gi", "500m", 3) as a plain number (bytes, cores...)."""
    if isinstance(value, int):
        return float(value)
    match = _QUANTITY_RE.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 20Gi, 500m or 3")
    return float(match["num"]) * _SUFFIX_FACTORS[match["suffix"] or ""]


def check_quantity(value: str | int) -> str | int:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a quantity cannot be negative")
        return value
    parse_quantity(value)
    return value


Quantity = Annotated[
    str | int,
    AfterValidator(check_quantity),
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            # The API server accepts int-or-string only as exactly these two branches, so the
            # pattern sits beside them (it applies to strings only), as controller-gen does.
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
        }
    ),
]
"""An int-or-string Kubernetes quantity (20Gi, 500m, 3)."""

PassThroughObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""A Kubernetes object passed through untouched (affinity, a toleration)."""

LabelValue = Annotated[
    str,
    StringConstraints(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"),
]

DnsSubdomain = Annotated[
    str,
    StringConstraints(
        max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ),
]

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
CommitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python, no unknown keys."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
        validate_default=True,
    )
