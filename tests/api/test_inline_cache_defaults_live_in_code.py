"""spec.cache: the inline fields have no schema default (one would be set beside `name`);
the code gives the defaults the schema used to, so the inline form behaves as before."""

from __future__ import annotations

from modeldeploy.operator.api import crd
from modeldeploy.operator.api.spec import AccessMode, CacheRetention, CacheSpec

CACHE_NODE = crd.openapi_schema()["properties"]["spec"]["properties"]["cache"]


def test_no_inline_field_has_a_schema_default() -> None:
    assert [n for n, p in CACHE_NODE["properties"].items() if "default" in p] == []
    assert "default" not in CACHE_NODE and "required" not in CACHE_NODE


def test_an_inline_cache_gets_the_old_defaults_from_code() -> None:
    cache = CacheSpec.model_validate({"size": "1Gi"})
    assert cache.inline
    assert cache.effective_access_mode is AccessMode.READ_WRITE_MANY
    assert cache.effective_retention is CacheRetention.RETAIN


def test_what_is_set_wins_over_the_code_default() -> None:
    cache = CacheSpec.model_validate(
        {"size": "1Gi", "accessMode": "ReadWriteOnce", "retention": "Delete"}
    )
    assert cache.effective_access_mode is AccessMode.READ_WRITE_ONCE
    assert cache.effective_retention is CacheRetention.DELETE


def test_a_named_cache_is_not_inline() -> None:
    cache = CacheSpec.model_validate({"name": "shared"})
    assert not cache.inline and cache.size is None
