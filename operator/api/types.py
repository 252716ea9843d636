"""Reusable field types of the API, each carrying its own OpenAPI schema.

Kubernetes needs a few things JSON Schema cannot say (int-or-string quantities,
pass-through objects); the schema for those is attached here, next to the type, so the
CRD generator stays a plain translator.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema
from pydantic.alias_generators import to_camel

from modeldeploy.hub import durations
from modeldeploy.operator.api import rules

# The quantities the operator can read (parse_quantity): digits, an optional fraction, an
# optional suffix. Narrower than the API server's grammar (no sign, no exponent), and the CRD
# carries this very pattern, so `kubectl apply` refuses what the operator could not read.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$"
QUANTITY_MAX_LENGTH = 64  # bounds the cost of the CEL rules that parse quantities
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)
_SUFFIX_FACTORS: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    **{suffix: Decimal(1000) ** power for power, suffix in enumerate("kMGTPE", start=1)},
    **{f"{suffix}i": Decimal(1024) ** power for power, suffix in enumerate("KMGTPE", start=1)},
}


def parse_quantity(value: str | int) -> float:
    """A Kubernetes quantity ("40Gi", "500m", 3) as a plain number (bytes, cores...)."""
    return float(exact_quantity(value.strip() if isinstance(value, str) else value))


def exact_quantity(value: str | int) -> Decimal:
    """A quantity as an exact number: comparisons agree with the API server's quantity()."""
    if isinstance(value, int):
        return Decimal(value)
    match = _QUANTITY_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 20Gi, 500m or 3")
    return Decimal(match[1]) * _SUFFIX_FACTORS[match[3] or ""]


def check_quantity(value: str | int) -> str | int:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a quantity cannot be negative")
        return value
    if len(value) > QUANTITY_MAX_LENGTH:
        raise ValueError(f"a quantity has at most {QUANTITY_MAX_LENGTH} characters")
    exact_quantity(value)
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
            "maxLength": QUANTITY_MAX_LENGTH,
            "minimum": 0,
        }
    ),
]
"""An int-or-string Kubernetes quantity (20Gi, 500m, 3)."""

# Durations (`verify.every`, `retention.maxUnusedFor`): Go's form plus days, exactly what
# `modeldeploy cache gc --max-unused-for` reads (hub.durations, the one parser): numbers with
# a unit s, m, h or d, one after another (90s, 30m, 1h30m, 1.5h, 7d), or a bare 0.
DURATION_PATTERN = rf"^(0|({rules.DURATION_PART})+)$"
DURATION_MAX_LENGTH = 32
_DURATION_RE = re.compile(DURATION_PATTERN)


def duration_seconds(text: str) -> float:
    """A duration such as 1h30m or 7d in seconds; ValueError naming the form otherwise."""
    if len(text) > DURATION_MAX_LENGTH or not _DURATION_RE.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a duration such as 90s, 30m, 1h30m, 1.5h or 7d "
            f"(numbers with a unit s, m, h or d; at most {DURATION_MAX_LENGTH} characters)"
        )
    return durations.parse_seconds(text)


Duration = Annotated[
    str, StringConstraints(max_length=DURATION_MAX_LENGTH, pattern=DURATION_PATTERN)
]
"""A duration as the API spells it (90s, 30m, 1h30m, 1.5h, 7d); `duration_seconds` reads it."""

PassThroughObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""A Kubernetes object passed through untouched (affinity)."""

TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

Toleration = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "properties": {
                "key": {
                    "type": "string",
                    "description": "Taint key matched; empty with operator Exists: every taint.",
                },
                "operator": {
                    "type": "string",
                    "description": "Exists or Equal (empty: Equal).",
                    "enum": ["", *TOLERATION_OPERATORS],
                },
                "value": {
                    "type": "string",
                    "description": "Taint value matched by Equal; empty with Exists.",
                },
                "effect": {
                    "type": "string",
                    "description": "Taint effect matched; empty: every effect.",
                    "enum": ["", *TAINT_EFFECTS],
                },
                "tolerationSeconds": {
                    "type": "integer",
                    "format": "int64",
                    "description": "How long a NoExecute taint is tolerated; unset: forever.",
                },
            },
            **rules.validations(rules.EXISTS_HAS_NO_VALUE),
        }
    ),
]
"""A core/v1 Toleration: its own schema, so the API server checks it (CEL sees only declared
fields); kept a dict in Python, as the planner copies it into the pod unchanged."""
TOLERATION_FIELDS = ("key", "operator", "value", "effect", "tolerationSeconds")

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

# metadata.name of both kinds. Children (Service, Job, PVC) are named `<name>-<suffix>`; a
# Service name is a DNS-1035 label of at most 63 characters, so the name must leave room.
MAX_NAME_LENGTH = 45
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
ObjectName = Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]
"""The name of a ModelDeployment (as its CRD restricts metadata.name)."""
# A ModelCache's Jobs are `mc-<name>-<task>-<digest>[-<config>]`, at most 24 characters more
# than the name, and a Job name must fit a label value (63: its pods carry it as job-name).
MAX_CACHE_NAME_LENGTH = 36
CacheName = Annotated[
    str, StringConstraints(max_length=MAX_CACHE_NAME_LENGTH, pattern=NAME_PATTERN)
]
"""The name of a ModelCache (as its CRD restricts metadata.name)."""

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
