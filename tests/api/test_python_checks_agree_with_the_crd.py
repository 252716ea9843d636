"""The Python checks refuse what the API server refuses at apply, naming the same field.

validate_model_deployment for ModelDeployments, validate_model_cache for ModelCaches.

The API server is the judge of the CEL rules (tests/e2e applies the same table); here the
Python side is held to it, and the OpenAPI part is checked with jsonschema as well.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from modeldeploy.hub import durations
from modeldeploy.operator.api import types, validation
from tests.api.refused_at_apply import (
    ACCEPTED,
    CACHE_ACCEPTED,
    CACHE_REFUSED,
    CACHE_REFUSED_BY_SCHEMA,
    REFUSED,
    REFUSED_BY_SCHEMA,
    CacheManifest,
    CacheRefused,
    Manifest,
    Refused,
)


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_python_refuses_and_names_the_field(case: Refused) -> None:
    paths = [p.path for p in validation.validate_model_deployment(case.body())]
    assert any(p.startswith(case.field) for p in paths), paths


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_python_accepts_what_the_api_server_accepts(case: Manifest) -> None:
    assert validation.validate_model_deployment(case.body()) == []


# Unknown fields are refused by the API server's strict decoding, not by the schema.
_SCHEMA_CASES = [c for c in REFUSED_BY_SCHEMA if c.id != "toleration-unknown-field"]


@pytest.mark.parametrize("case", _SCHEMA_CASES, ids=lambda c: c.id)
def test_openapi_part_refuses_at_the_field(
    case: Refused, openapi_validator: jsonschema.Draft7Validator
) -> None:
    paths = [_path(e) for e in openapi_validator.iter_errors(case.body())]
    assert case.field in paths, paths


def _path(error: jsonschema.ValidationError) -> str:
    """The API server's spelling of a path: spec.placement.tolerations[0].operator."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)[1:]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_openapi_part_accepts_the_edge_cases(
    case: Manifest, openapi_validator: jsonschema.Draft7Validator
) -> None:
    assert list(openapi_validator.iter_errors(_without_nulls(case.body()))) == []


def _without_nulls(value: Any) -> Any:
    """What the API server validates: it drops the nulls of fields that are not nullable."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


QUANTITIES = ["1", "0", "40Gi", "500m", "0.5", "1.5Gi", "12E", "7Ki",
              "", "-1", "+1", "1e3", ".5", "5.", "1 Gi", " 1Gi", "1gi", "1KB",
              "1" * 65]  # fmt: skip


@pytest.mark.parametrize("text", QUANTITIES, ids=repr)
def test_the_crd_pattern_and_python_read_the_same_quantities(
    text: str, openapi_validator: jsonschema.Draft7Validator
) -> None:
    try:
        types.check_quantity(text)
        python_accepts = True
    except ValueError:
        python_accepts = False
    body = Manifest("q", {"cache": {"size": text}}).body()
    schema_accepts = not list(openapi_validator.iter_errors(body))
    assert python_accepts == schema_accepts


@pytest.mark.parametrize("case", CACHE_REFUSED, ids=lambda c: c.id)
def test_python_refuses_the_model_cache_and_names_the_field(case: CacheRefused) -> None:
    paths = [p.path for p in validation.validate_model_cache(case.body())]
    assert any(p.startswith(case.field) for p in paths), paths


@pytest.mark.parametrize("case", CACHE_ACCEPTED, ids=lambda c: c.id)
def test_python_accepts_the_model_caches_the_api_server_accepts(case: CacheManifest) -> None:
    assert validation.validate_model_cache(case.body()) == []


@pytest.mark.parametrize("case", CACHE_REFUSED_BY_SCHEMA, ids=lambda c: c.id)
def test_model_cache_openapi_part_refuses_at_the_field(
    case: CacheRefused, cache_openapi_validator: jsonschema.Draft7Validator
) -> None:
    errors = list(cache_openapi_validator.iter_errors(case.body()))
    # A missing required field is reported at its parent, as `required`.
    paths = [_path(e) + (f".{e.validator_value[0]}" if e.validator == "required" else "")
             for e in errors]  # fmt: skip
    assert any(p.startswith(case.field) for p in paths), paths


@pytest.mark.parametrize("case", CACHE_ACCEPTED, ids=lambda c: c.id)
def test_model_cache_openapi_part_accepts_the_edge_cases(
    case: CacheManifest, cache_openapi_validator: jsonschema.Draft7Validator
) -> None:
    assert list(cache_openapi_validator.iter_errors(case.body())) == []


# Durations: (text, seconds or None when the grammar refuses it). The grammar is hub.durations'
# (what `cache gc --max-unused-for` reads), less its leniency for surrounding blanks.
DURATIONS = [
    ("90s", 90), ("30m", 1800), ("24h", 86400), ("1h30m", 5400), ("7d", 604800),
    ("1d2h3m4s", 93784), ("0s", 0), ("0", 0), ("00h01m", 60), ("168h", 604800),
    ("1.5h", 5400), (".5m", 30), ("1.m", 60), ("30m1h", 5400), ("1h1h", 7200),
    ("30s30s", 60), ("0.001d", 86.4),
    ("", None), ("00", None), ("1", None), ("1w", None), ("1ms", None), ("-1h", None),
    ("+1h", None), ("1H", None), (" 1h", None), ("1h ", None), ("1h 30m", None), ("h", None),
    (".h", None), ("1..5h", None), ("1h30", None), ("1" * 32 + "s", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "seconds"), DURATIONS, ids=[repr(t) for t, _ in DURATIONS])
def test_the_crd_pattern_and_python_read_the_same_durations(
    text: str, seconds: float | None, cache_openapi_validator: jsonschema.Draft7Validator
) -> None:
    try:
        python_reads: float | None = types.duration_seconds(text)
    except ValueError:
        python_reads = None
    assert python_reads == seconds
    body = CacheManifest("d", {"retention": {"maxUnusedFor": text}}).body()
    schema_accepts = not list(cache_openapi_validator.iter_errors(body))
    assert schema_accepts == (seconds is not None)


READABLE = [(text, seconds) for text, seconds in DURATIONS if seconds is not None]
# The API refuses more than hub.durations: surrounding blanks, and more than 32 characters.
HUB_LENIENT = {" 1h", "1h ", "1" * 32 + "s"}


@pytest.mark.parametrize(("text", "seconds"), READABLE, ids=[repr(t) for t, _ in READABLE])
def test_what_the_crd_accepts_cache_gc_reads_the_same(text: str, seconds: float) -> None:
    """The operator hands maxUnusedFor to `cache gc --max-unused-for` as it is."""
    assert durations.parse_seconds(text) == seconds


@pytest.mark.parametrize("text", [t for t, s in DURATIONS if s is None and t not in HUB_LENIENT])
def test_what_cache_gc_refuses_the_crd_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        durations.parse_seconds(text)
