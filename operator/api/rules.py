"""The CEL rules (`x-kubernetes-validations`) the CRD carries, so the API server refuses at apply.

OpenAPI says what one field may hold (types, enums, bounds, patterns); these rules say the
rest: comparisons across fields, quantities (the `quantity()` library of Kubernetes 1.29+),
and string rules an RE2 pattern cannot (no lookahead). `validation.validate_model_deployment`
checks the same things in Python, so both agree on every object.

Cost: the API server estimates each rule's worst case from the schema's bounds and refuses a
CRD whose rules could cost too much, so the strings, lists and maps whose values a rule reads
have a maxLength, maxItems or maxProperties (map keys can have no bound: a rule may test
them, but a message built from them is estimated far over the budget).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """How the API server reports a failed rule (Invalid when none is given)."""

    FORBIDDEN = "FieldValueForbidden"
    REQUIRED = "FieldValueRequired"


def rule(
    expression: str,
    *,
    message: str | None = None,
    message_expression: str | None = None,
    field_path: str | None = None,
    reason: Reason | None = None,
) -> dict[str, Any]:
    """One x-kubernetes-validations entry; `field_path` is relative to the rule's node."""
    entry: dict[str, Any] = {"rule": expression}
    optional = {
        "message": message,
        "messageExpression": message_expression,
        "fieldPath": field_path,
        "reason": reason.value if reason else None,
    }
    entry.update({key: value for key, value in optional.items() if value is not None})
    return entry


def validations(*rules: dict[str, Any]) -> dict[str, Any]:
    """The JSON-schema fragment that attaches `rules` to a node (json_schema_extra)."""
    return {"x-kubernetes-validations": list(rules)}


def _inside_repository(path: str) -> str:
    """CEL: `path` is relative and has no '..' component (as PurePosixPath sees it)."""
    return (
        f"!{path}.startsWith('/') && {path} != '..' && !{path}.startsWith('../')"
        f" && !{path}.endsWith('/..') && !{path}.contains('/../')"
    )


def _quantity(value: str) -> str:
    """CEL: an int-or-string quantity as a quantity (string() turns 3 into '3')."""
    return f"quantity(string({value}))"


def _is_quantity(value: str) -> str:
    # A string the pattern refuses still reaches CEL; the pattern's error is the one to show.
    return f"isQuantity(string({value}))"


# On an int-or-string quantity node.
POSITIVE_QUANTITY = rule(
    f"!{_is_quantity('self')} || {_quantity('self')}.isGreaterThan(quantity('0'))",
    message="must be greater than zero",
)

# On spec.model.repo.
REPO_NO_DOUBLE_DASH_OR_DOTS = rule(
    "!self.contains('--') && !self.contains('..')",
    message="'--' and '..' are not allowed in a repo id",
)
REPO_NO_GIT_SUFFIX = rule(
    "!self.endsWith('.git') && !self.contains('.git/')",
    message="a repo id does not end in '.git'",
)

# On spec.model.revision: what git refuses in a ref name that the pattern lets through
# (its character class already keeps out '~', '^', ':', '?', '*', '[', '@{' and backslashes).
REVISION_IS_A_REF_NAME = rule(
    "!self.contains('..') && !self.contains('//')"
    " && !self.endsWith('/') && !self.endsWith('.') && !self.endsWith('.lock')",
    message="neither a 40-hex commit nor a valid branch or tag name "
    "(no '..' or '//', no trailing '/', '.' or '.lock')",
)

# On each item of spec.model.include.
PATH_INSIDE_REPOSITORY = rule(
    _inside_repository("self"),
    message="must be a relative path inside the repository (no leading '/', no '..')",
)

# On spec.model.sha256 (a map: its keys are paths).
KEYS_INSIDE_REPOSITORY = rule(
    f"self.all(path, {_inside_repository('path')})",
    message="keys must be relative paths inside the repository (no leading '/', no '..')",
)

# On spec.gpu.products.
NO_DUPLICATE_PRODUCT = rule(
    "self.all(product, self.exists_one(other, other == product))",
    message="lists a product twice",
)

# On GpuSpec: what only a GPU deployment may say.
PRODUCTS_NEED_GPUS = rule(
    "self.count > 0 || !has(self.products) || size(self.products) == 0",
    message="products needs count > 0 (count 0 runs on CPU)",
    field_path=".products",
)
MIN_MEMORY_NEEDS_GPUS = rule(
    "self.count > 0 || !has(self.minMemory)",
    message="minMemory needs count > 0 (count 0 runs on CPU)",
    field_path=".minMemory",
)


def _request_exceeds_limit(name: str) -> str:
    request, limit = f"self.requests[{name}]", f"self.limits[{name}]"
    return (
        f"{name} in self.limits && {_is_quantity(request)} && {_is_quantity(limit)}"
        f" && {_quantity(request)}.compareTo({_quantity(limit)}) > 0"
    )


# On ResourceRequirements. The message does not name the resource: see "Cost" above.
REQUESTS_WITHIN_LIMITS = rule(
    "!has(self.requests) || !has(self.limits)"
    f" || !self.requests.exists(name, {_request_exceeds_limit('name')})",
    message="a request exceeds its limit",
    field_path=".requests",
)


def _no_gpu_in(kind: str) -> dict[str, Any]:
    """On the spec: the GPU resource comes from spec.gpu, never from spec.resources.<kind>."""
    return rule(
        f"!has(self.resources) || !has(self.resources.{kind}) || !has(self.gpu)"
        f" || !has(self.gpu.resourceName) || !(self.gpu.resourceName in self.resources.{kind})",
        message_expression="self.gpu.resourceName + "
        "' is requested through spec.gpu (count, resourceName), not spec.resources'",
        field_path=f".resources.{kind}",
        reason=Reason.FORBIDDEN,
    )


NO_GPU_IN_REQUESTS = _no_gpu_in("requests")
NO_GPU_IN_LIMITS = _no_gpu_in("limits")

# On RuntimeSpec: engine arguments go to vLLM; the builtin engine would ignore them silently.
# (The allow-list itself is checked by the operator, which reports InvalidEngineArgs.)
ENGINE_ARGS_NEED_VLLM = rule(
    "(has(self.engine) && self.engine == 'vllm') || !has(self.engineArgs)"
    " || size(self.engineArgs) == 0",
    message="engineArgs are arguments of the vllm engine: set engine: vllm (the builtin "
    "engine takes none)",
    field_path=".engineArgs",
    reason=Reason.FORBIDDEN,
)

# On each toleration.
EXISTS_HAS_NO_VALUE = rule(
    "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || size(self.value) == 0",
    message="must be empty when operator is Exists",
    field_path=".value",
)


# On spec.cache (CacheSpec): a ModelCache by name, or an inline volume; never both.
INLINE_CACHE_FIELDS = ("size", "storageClassName", "accessMode", "retention")


def _not_with_cache_name(field: str) -> dict[str, Any]:
    return rule(
        f"!has(self.name) || !has(self.{field})",
        message=f"{field} is a field of an inline cache volume: with name, the ModelCache "
        "named decides it (set it there, or drop name)",
        field_path=f".{field}",
        reason=Reason.FORBIDDEN,
    )


INLINE_FIELDS_NOT_WITH_NAME = tuple(_not_with_cache_name(f) for f in INLINE_CACHE_FIELDS)
SIZE_WITHOUT_NAME = rule(
    "has(self.name) || has(self.size)",
    message="an inline cache volume needs a size (or name a ModelCache)",
    field_path=".size",
    reason=Reason.REQUIRED,
)

# On ModelCache spec.storage.accessMode: every fetch Job and every replica mounts the volume.
SHARED_ACCESS_MODE = rule(
    "self != 'ReadWriteOncePod'",
    message="ReadWriteOncePod lets one pod mount the volume: a ModelCache is mounted by its "
    "Jobs and by every replica (ReadWriteMany, or ReadWriteOnce to keep them on one node)",
)

# On durations (types.DURATION_PATTERN: numbers with a unit s, m, h or d, one after another,
# or a bare 0). CEL's duration() knows no days, so the seconds are summed here, each part's
# number times its unit, as hub.durations.parse_seconds sums them.
DURATION_PART = "([0-9]+([.][0-9]*)?|[.][0-9]+)[smhd]"


def _duration_seconds(value: str) -> str:
    """CEL: the seconds of a duration string, as a double."""
    unit = (
        "(p.endsWith('d') ? 86400.0 : (p.endsWith('h') ? 3600.0 : (p.endsWith('m') ? 60.0 : 1.0)))"
    )
    parts = f"{value}.findAll('{DURATION_PART}')"
    return f"{parts}.map(p, double(p.substring(0, size(p) - 1)) * {unit}).sum()"


AT_LEAST_A_MINUTE = rule(f"{_duration_seconds('self')} >= 60.0", message="must be at least 1m")
POSITIVE_DURATION = rule(f"{_duration_seconds('self')} > 0.0", message="must be longer than 0")

# On the ModelCache's retention policy.
WATERMARKS_ORDERED = rule(
    "!has(self.lowWatermark) || !has(self.highWatermark) || self.lowWatermark < self.highWatermark",
    message="lowWatermark must be below highWatermark (eviction runs from high down to low)",
    field_path=".lowWatermark",
)
