"""Every rule of a ModelDeployment (and of a ModelCache), in one function the operator calls.

The API server already refuses at apply what the CRD can say: types, enums, bounds and
patterns, and the CEL rules of `rules` (quantities, rules across fields, path and ref-name
rules). `validate_model_deployment` checks all of that again — an object that bypassed the
CRD (stored under an older CRD, or `render` on a file) is caught too, and the two must agree —
and adds what the CRD cannot say: the shape of `placement.affinity`, a pass-through object
whose fields CEL cannot see, and the vLLM engine-argument allow-list
(`modeldeploy.engine_args`; the operator reports it as InvalidEngineArgs). It returns every
problem with its field path, never only the first.
`validate_model_cache` does the same for a ModelCache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_snake

from modeldeploy import engine_args
from modeldeploy.operator.api import rules, types
from modeldeploy.operator.api.cache import MIN_VERIFY_EVERY, ModelCache, ModelCacheSpec
from modeldeploy.operator.api.resource import MAX_NAME_LENGTH, NAME_PATTERN, ModelDeployment
from modeldeploy.operator.api.spec import (
    AccessMode,
    CacheSpec,
    Engine,
    ModelDeploymentSpec,
    ModelSource,
)
from modeldeploy.operator.api.types import MAX_CACHE_NAME_LENGTH, duration_seconds, exact_quantity

_DNS1035 = re.compile(NAME_PATTERN)
_SIZE_REQUIRED = "required: an inline cache volume needs a size (or name a ModelCache)"
_ONE_POD = "ReadWriteOncePod lets one pod mount the volume: the Jobs and every replica mount it"
ENGINE_ARGS_PATH = "spec.runtime.engineArgs"
"""Where a problem with the engine arguments is reported (reason InvalidEngineArgs)."""
_BAD_REF_PARTS = ("..", "//", "@{", "\\", "~", "^", ":", "?", "*", "[")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a ModelDeployment, at a dotted field path such as spec.gpu.count."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidObjectError(ValueError):
    """An object with problems; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class InvalidModelDeploymentError(InvalidObjectError):
    """A ModelDeployment with problems."""


class InvalidModelCacheError(InvalidObjectError):
    """A ModelCache with problems."""


def validate_model_deployment(obj: Mapping[str, Any]) -> list[Problem]:
    """Every problem of a ModelDeployment object (as a dict), sorted by field path."""
    try:
        resource = _strict(obj)
    except ValidationError as exc:
        return sorted(_from_validation_error(exc))
    problems = list(_check_name(resource.metadata))
    problems += _check_spec(resource.spec)
    return sorted(problems)


def parse_model_deployment(obj: Mapping[str, Any]) -> ModelDeployment:
    """The typed ModelDeployment, or InvalidModelDeploymentError listing every problem."""
    problems = validate_model_deployment(obj)
    if problems:
        raise InvalidModelDeploymentError(problems)
    return _strict(obj)


def validate_model_cache(obj: Mapping[str, Any]) -> list[Problem]:
    """Every problem of a ModelCache object (as a dict), sorted by field path."""
    try:
        resource = _strict_cache(obj)
    except ValidationError as exc:
        return sorted(_from_validation_error(exc))
    problems = list(_check_name(resource.metadata, longest=MAX_CACHE_NAME_LENGTH))
    problems += _check_cache_spec(resource.spec)
    return sorted(problems)


def parse_model_cache(obj: Mapping[str, Any]) -> ModelCache:
    """The typed ModelCache, or InvalidModelCacheError listing every problem."""
    problems = validate_model_cache(obj)
    if problems:
        raise InvalidModelCacheError(problems)
    return _strict_cache(obj)


def _strict(obj: Mapping[str, Any]) -> ModelDeployment:
    # JSON mode in strict: "yes" is no boolean and "2" no integer, as for the API server,
    # while enum values still arrive as plain strings.
    return ModelDeployment.model_validate_json(json.dumps(obj), strict=True)


def _strict_cache(obj: Mapping[str, Any]) -> ModelCache:
    return ModelCache.model_validate_json(json.dumps(obj), strict=True)


def _from_validation_error(exc: ValidationError) -> Iterator[Problem]:
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"] if not _is_pydantic_tag(part))
        yield Problem(path or "(root)", _message(error))


def _is_pydantic_tag(part: object) -> bool:
    # Unions and validators add synthetic location parts such as 'str' or 'function-after[...]'.
    return isinstance(part, str) and (part in {"str", "int"} or "[" in part)


def _message(error: Any) -> str:
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "string_pattern_mismatch":
        return f"{error['input']!r} does not match the pattern {error['ctx']['pattern']}"
    return message.replace("Input should be", "must be")


def _check_name(
    metadata: Mapping[str, Any], *, longest: int = MAX_NAME_LENGTH
) -> Iterator[Problem]:
    name = metadata.get("name")
    if not name:
        return
    if not _DNS1035.match(name):
        yield Problem(
            "metadata.name",
            "must start with a letter and hold only lower-case letters, digits and '-' "
            "(it names the Service and the other children)",
        )
    if len(name) > longest:
        yield Problem(
            "metadata.name",
            f"at most {longest} characters (child objects append suffixes)",
        )


def _check_spec(spec: ModelDeploymentSpec) -> list[Problem]:
    return [
        *_check_source("spec.model", spec.model),
        *[
            problem
            for index, source in enumerate(spec.fallbacks)
            for problem in _check_source(f"spec.fallbacks[{index}]", source)
        ],
        *_check_fallback_policy(spec),
        *_check_gpu(spec),
        *_check_engine_args(spec),
        *_check_resources(spec),
        *_check_cache(spec.cache),
        *_check_tolerations(spec.placement.tolerations),
        *_check_affinity(spec.placement.affinity),
    ]


def _check_fallback_policy(spec: ModelDeploymentSpec) -> Iterator[Problem]:
    policy = spec.fallback_policy
    if duration_seconds(policy.retry_preferred_every) < 60:
        yield Problem("spec.fallbackPolicy.retryPreferredEvery", "must be at least 1m")
    if duration_seconds(policy.transient_grace) == 0:
        yield Problem("spec.fallbackPolicy.transientGrace", "must be longer than 0")


def _check_source(at: str, source: ModelSource) -> list[Problem]:
    return [
        *_check_repo(f"{at}.repo", source.repo),
        *_check_revision(f"{at}.revision", source.revision),
        *_check_paths(f"{at}.include", source.include),
        *_check_paths(f"{at}.sha256", list(source.sha256)),
    ]


def _check_repo(field: str, repo: str) -> Iterator[Problem]:
    for part in repo.split("/"):
        if "--" in part or ".." in part:
            yield Problem(field, f"{repo!r}: '--' and '..' are not allowed in a repo id")
        if part.endswith(".git"):
            yield Problem(field, f"{repo!r}: a repo id does not end in '.git'")


def _check_revision(field: str, revision: str) -> Iterator[Problem]:
    bad = [part for part in _BAD_REF_PARTS if part in revision]
    if bad or revision.endswith(("/", ".", ".lock")):
        yield Problem(
            field,
            f"{revision!r} is neither a 40-hex commit nor a valid branch or tag name",
        )


def _check_paths(field: str, paths: list[str]) -> Iterator[Problem]:
    for index, path in enumerate(paths):
        pure = PurePosixPath(path)
        where = f"{field}[{index}]" if field.endswith("include") else f"{field}.{path}"
        if pure.is_absolute() or ".." in pure.parts:
            yield Problem(where, f"{path!r} must be a relative path inside the repository")


def _check_gpu(spec: ModelDeploymentSpec) -> Iterator[Problem]:
    gpu = spec.gpu
    if gpu.min_memory is not None and exact_quantity(gpu.min_memory) <= 0:
        yield Problem("spec.gpu.minMemory", "must be greater than zero")
    if gpu.count == 0 and gpu.products:
        yield Problem("spec.gpu.products", "products needs count > 0 (count 0 runs on CPU)")
    if gpu.count == 0 and gpu.min_memory is not None:
        yield Problem("spec.gpu.minMemory", "minMemory needs count > 0 (count 0 runs on CPU)")
    for kind in ("requests", "limits"):
        if gpu.resource_name in getattr(spec.resources, kind):
            yield Problem(
                f"spec.resources.{kind}.{gpu.resource_name}",
                "GPUs are requested through spec.gpu, not spec.resources",
            )
    if len(set(gpu.products)) != len(gpu.products):
        yield Problem("spec.gpu.products", "lists a product twice")


def _check_engine_args(spec: ModelDeploymentSpec) -> Iterator[Problem]:
    runtime = spec.runtime
    if not runtime.engine_args:
        return
    if runtime.engine is not Engine.VLLM:
        yield Problem(
            ENGINE_ARGS_PATH,
            f"engine arguments need engine vllm (engine is {runtime.engine.value}, which "
            "would ignore them)",
        )
        return
    try:
        parsed = engine_args.parse(runtime.engine_args)
        tensor_parallel = parsed.tensor_parallel_size
    except ValueError as exc:  # EngineArgsError names the argument and why
        yield Problem(ENGINE_ARGS_PATH, str(exc))
        return
    gpus = spec.gpu.count
    if tensor_parallel is not None and gpus > 0 and tensor_parallel > gpus:
        yield Problem(
            ENGINE_ARGS_PATH,
            f"--tensor-parallel-size={tensor_parallel} needs {tensor_parallel} GPUs per "
            f"replica; spec.gpu.count is {gpus}",
        )


def _check_resources(spec: ModelDeploymentSpec) -> Iterator[Problem]:
    requests, limits = spec.resources.requests, spec.resources.limits
    for name, limit in limits.items():
        if name in requests and exact_quantity(requests[name]) > exact_quantity(limit):
            yield Problem(
                f"spec.resources.requests.{name}",
                f"request {requests[name]} exceeds the limit {limit}",
            )


def _check_cache(cache: CacheSpec | None) -> Iterator[Problem]:
    if cache is None:
        return
    if cache.size is not None and exact_quantity(cache.size) <= 0:
        yield Problem("spec.cache.size", "must be greater than zero")
    if cache.name is None:
        if cache.size is None:
            yield Problem("spec.cache.size", _SIZE_REQUIRED)
        return
    for field in rules.INLINE_CACHE_FIELDS:
        if getattr(cache, to_snake(field)) is not None:
            yield Problem(
                f"spec.cache.{field}",
                f"forbidden with name: the ModelCache {cache.name!r} decides it "
                "(set it there, or drop name for an inline cache volume)",
            )


def _check_cache_spec(spec: ModelCacheSpec) -> list[Problem]:
    problems: list[Problem] = []
    if exact_quantity(spec.storage.size) <= 0:
        problems.append(Problem("spec.storage.size", "must be greater than zero"))
    if spec.storage.access_mode is AccessMode.READ_WRITE_ONCE_POD:
        problems.append(Problem("spec.storage.accessMode", _ONE_POD))
    for index, source in enumerate(spec.preload):
        problems += _check_source(f"spec.preload[{index}]", source)
    if duration_seconds(spec.verify.every) < duration_seconds(MIN_VERIFY_EVERY):
        problems.append(Problem("spec.verify.every", f"must be at least {MIN_VERIFY_EVERY}"))
    retention = spec.retention
    if duration_seconds(retention.max_unused_for) == 0:
        problems.append(Problem("spec.retention.maxUnusedFor", "must be longer than zero"))
    low, high = retention.low_watermark, retention.high_watermark
    if low >= high:
        problems.append(
            Problem("spec.retention.lowWatermark", f"{low} must be below highWatermark {high}")
        )
    return problems


def _check_tolerations(tolerations: list[dict[str, Any]]) -> Iterator[Problem]:
    for index, toleration in enumerate(tolerations):
        where = f"spec.placement.tolerations[{index}]"
        yield from _check_toleration_fields(where, toleration)
        operator = toleration.get("operator") or "Equal"
        if operator not in types.TOLERATION_OPERATORS:
            yield Problem(f"{where}.operator", f"{operator!r} must be Exists or Equal")
        effect = toleration.get("effect")
        if effect not in (None, "", *types.TAINT_EFFECTS):
            yield Problem(f"{where}.effect", f"{effect!r} is not a taint effect")
        if operator == "Exists" and toleration.get("value"):
            yield Problem(f"{where}.value", "must be empty when operator is Exists")


def _check_toleration_fields(where: str, toleration: Mapping[str, Any]) -> Iterator[Problem]:
    """The fields of a core/v1 Toleration and their types, as the CRD declares them.

    A null is no value: the API server drops nulls of fields that are not nullable.
    """
    for name, value in toleration.items():
        if name not in types.TOLERATION_FIELDS:
            yield Problem(f"{where}.{name}", "unknown field")
        elif name == "tolerationSeconds":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                yield Problem(f"{where}.{name}", "must be an integer")
        elif value is not None and not isinstance(value, str):
            yield Problem(f"{where}.{name}", "must be a string")


_AFFINITY = "spec.placement.affinity"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _check_affinity(affinity: Mapping[str, Any]) -> Iterator[Problem]:
    """The shape of a core/v1 Affinity, as far as the operator merges its GPU rules into it.

    The schema passes the affinity through unchecked (x-kubernetes-preserve-unknown-fields),
    so a wrong shape must be caught here, with its path, before the planner merges into it.
    """
    for kind in ("podAffinity", "podAntiAffinity"):
        if kind in affinity and not isinstance(affinity[kind], dict):
            yield Problem(f"{_AFFINITY}.{kind}", "must be an object")
    node = affinity.get("nodeAffinity")
    if node is None:
        return
    where = f"{_AFFINITY}.nodeAffinity"
    if not isinstance(node, dict):
        yield Problem(where, "must be an object")
        return
    yield from _check_required_node_terms(f"{where}.{_REQUIRED}", node.get(_REQUIRED))
    preferred = node.get(_PREFERRED)
    if preferred is None:
        return
    if not isinstance(preferred, list):
        yield Problem(f"{where}.{_PREFERRED}", "must be a list")
        return
    for index, item in enumerate(preferred):
        at = f"{where}.{_PREFERRED}[{index}]"
        weight = item.get("weight") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(item.get("preference"), dict):
            yield Problem(at, "must be an object with a preference (a node selector term)")
        elif not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            yield Problem(f"{at}.weight", "must be an integer from 1 to 100")
        else:
            yield from _check_term(f"{at}.preference", item["preference"])


def _check_required_node_terms(where: str, required: Any) -> Iterator[Problem]:
    if required is None:
        return
    terms = required.get("nodeSelectorTerms") if isinstance(required, dict) else None
    if not isinstance(terms, list) or not terms:
        yield Problem(where, "must be an object with a non-empty nodeSelectorTerms list")
        return
    for index, term in enumerate(terms):
        yield from _check_term(f"{where}.nodeSelectorTerms[{index}]", term)


def _check_term(where: str, term: Any) -> Iterator[Problem]:
    if not isinstance(term, dict):
        yield Problem(where, "must be an object (a node selector term)")
        return
    for key in ("matchExpressions", "matchFields"):
        value = term.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(e, dict) for e in value)
        ):
            yield Problem(f"{where}.{key}", "must be a list of objects")
