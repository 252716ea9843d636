"""ModelDeployments (and ModelCaches) the API server refuses at apply, with the field named.

One table for both judges, so they cannot drift apart: tests/api checks that
`validate_model_deployment` refuses each one naming the same field, and
tests/e2e/test_invalid_manifests_are_rejected_with_the_field.py applies each one to a real
API server. ACCEPTED holds edge cases both must let through. The CACHE_ tables do the same
for ModelCaches (`validate_model_cache`; the real API server in
tests/api/test_api_server_judges_model_caches.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HEX64 = "ab" * 32


@dataclass(frozen=True)
class Manifest:
    """A spec (merged over {model: {repo: acme/tiny}}) and the object's name (default: id)."""

    id: str
    spec: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    @property
    def object_name(self) -> str:
        return self.name or self.id

    def body(self) -> dict[str, Any]:
        return {
            "apiVersion": "modeldeploy.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": self.object_name},
            "spec": {"model": {"repo": "acme/tiny"}, **self.spec},
        }


@dataclass(frozen=True)
class Refused(Manifest):
    """Refused at apply; the message names `field` (a Python path starts with it)."""

    field: str = ""


def _model(**fields: Any) -> dict[str, Any]:
    return {"model": {"repo": "acme/tiny", **fields}}


# The CEL rules (x-kubernetes-validations) of the CRD, one case or more each.
REFUSED_BY_CEL = [
    Refused("repo-double-dash", {"model": {"repo": "acme/tiny--llama"}}, field="spec.model.repo"),
    Refused("repo-double-dot", {"model": {"repo": "acme..x/tiny"}}, field="spec.model.repo"),
    Refused("repo-dot-git", {"model": {"repo": "acme/tiny.git"}}, field="spec.model.repo"),
    Refused("repo-owner-dot-git", {"model": {"repo": "acme.git/tiny"}}, field="spec.model.repo"),
    Refused("revision-dots", _model(revision="bad..rev"), field="spec.model.revision"),
    Refused("revision-slashes", _model(revision="feature//x"), field="spec.model.revision"),
    Refused("revision-trailing-slash", _model(revision="release/"), field="spec.model.revision"),
    Refused("revision-trailing-dot", _model(revision="v1."), field="spec.model.revision"),
    Refused("revision-lock", _model(revision="main.lock"), field="spec.model.revision"),
    Refused("include-parent", _model(include=["*.json", "../secrets/*"]),
            field="spec.model.include[1]"),
    Refused("include-absolute", _model(include=["/etc/*"]), field="spec.model.include[0]"),
    Refused("include-inner-parent", _model(include=["a/../../b"]), field="spec.model.include[0]"),
    Refused("sha256-absolute", _model(sha256={"/abs.bin": HEX64}), field="spec.model.sha256"),
    Refused("sha256-parent", _model(sha256={"x/..": HEX64}), field="spec.model.sha256"),
    Refused("min-memory-zero", {"gpu": {"count": 1, "minMemory": 0}}, field="spec.gpu.minMemory"),
    Refused("min-memory-zero-gi", {"gpu": {"count": 1, "minMemory": "0Gi"}},
            field="spec.gpu.minMemory"),
    Refused("min-memory-on-cpu", {"gpu": {"count": 0, "minMemory": "40Gi"}},
            field="spec.gpu.minMemory"),
    Refused("products-on-cpu", {"gpu": {"count": 0, "products": ["T4"]}},
            field="spec.gpu.products"),
    Refused("products-twice", {"gpu": {"count": 1, "products": ["T4", "L4", "T4"]}},
            field="spec.gpu.products"),
    Refused("gpu-in-limits", {"resources": {"limits": {"nvidia.com/gpu": 1}}},
            field="spec.resources.limits"),
    Refused("gpu-in-requests", {"resources": {"requests": {"nvidia.com/gpu": "1"}}},
            field="spec.resources.requests"),
    Refused("mig-in-limits", {"gpu": {"count": 1, "resourceName": "nvidia.com/mig-1g.10gb"},
                              "resources": {"limits": {"nvidia.com/mig-1g.10gb": 1}}},
            field="spec.resources.limits"),
    Refused("request-over-limit", {"resources": {"requests": {"cpu": "4"}, "limits": {"cpu": 2}}},
            field="spec.resources.requests"),
    Refused("request-over-limit-units",
            {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "2000Mi"}}},
            field="spec.resources.requests"),
    Refused("request-over-limit-milli",
            {"resources": {"requests": {"cpu": "1500m"}, "limits": {"cpu": "1.4"}}},
            field="spec.resources.requests"),
    Refused("cache-size-zero", {"cache": {"size": 0}}, field="spec.cache.size"),
    Refused("cache-size-zero-gi", {"cache": {"size": "0.0Gi"}}, field="spec.cache.size"),
    # spec.cache: a ModelCache by name, or an inline volume (size required), never both.
    Refused("cache-name-with-size", {"cache": {"name": "shared", "size": "1Gi"}},
            field="spec.cache.size"),
    Refused("cache-name-with-storage-class",
            {"cache": {"name": "shared", "storageClassName": "standard"}},
            field="spec.cache.storageClassName"),
    Refused("cache-name-with-access-mode",
            {"cache": {"name": "shared", "accessMode": "ReadWriteMany"}},
            field="spec.cache.accessMode"),
    Refused("cache-name-with-retention", {"cache": {"name": "shared", "retention": "Retain"}},
            field="spec.cache.retention"),
    Refused("cache-inline-without-size", {"cache": {"storageClassName": "standard"}},
            field="spec.cache.size"),
    Refused("cache-empty", {"cache": {}}, field="spec.cache.size"),
    Refused("toleration-exists-with-value",
            {"placement": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}},
            field="spec.placement.tolerations[0].value"),
    Refused("fallback-repo-dot-git", {"fallbacks": [{"repo": "acme/small.git"}]},
            field="spec.fallbacks[0].repo"),
    Refused("fallback-retry-too-often", {"fallbackPolicy": {"retryPreferredEvery": "30s"}},
            field="spec.fallbackPolicy.retryPreferredEvery"),
    Refused("fallback-grace-zero", {"fallbackPolicy": {"transientGrace": "0m"}},
            field="spec.fallbackPolicy.transientGrace"),
    Refused("engine-args-with-builtin", {"runtime": {"engineArgs": ["--max-model-len=512"]}},
            field="spec.runtime.engineArgs"),
    Refused("engine-args-with-explicit-builtin",
            {"runtime": {"engine": "builtin", "engineArgs": ["--enforce-eager"]}},
            field="spec.runtime.engineArgs"),
]  # fmt: skip

# Rules that moved into the OpenAPI schema (patterns, bounds, enums, declared fields).
REFUSED_BY_SCHEMA = [
    Refused("name-starts-with-digit", name="9-lives", field="metadata.name"),
    Refused("name-too-long", name="x" * 46, field="metadata.name"),
    Refused("quantity-negative", {"cache": {"size": "-1Gi"}}, field="spec.cache.size"),
    Refused("quantity-negative-int", {"cache": {"size": -1}}, field="spec.cache.size"),
    # Quantities the API server reads but the operator does not (an exponent such as 1e9 is
    # no case here: YAML reads it as a number before the API server sees it).
    Refused("quantity-plus-sign", {"cache": {"size": "+1Gi"}}, field="spec.cache.size"),
    Refused("quantity-bare-fraction", {"cache": {"size": ".5Gi"}}, field="spec.cache.size"),
    Refused("quantity-too-long", {"cache": {"size": "1" * 65}}, field="spec.cache.size"),
    Refused("cache-name-not-a-name", {"cache": {"name": "Shared"}}, field="spec.cache.name"),
    Refused("cache-name-too-long", {"cache": {"name": "c" * 37}}, field="spec.cache.name"),
    Refused("toleration-operator",
            {"placement": {"tolerations": [{"key": "k", "operator": "Maybe"}]}},
            field="spec.placement.tolerations[0].operator"),
    Refused("toleration-effect",
            {"placement": {"tolerations": [{"key": "k", "effect": "Sometimes"}]}},
            field="spec.placement.tolerations[0].effect"),
    Refused("toleration-unknown-field",
            {"placement": {"tolerations": [{"key": "k", "operater": "Exists"}]}},
            field="spec.placement.tolerations[0].operater"),
    Refused("toleration-seconds-type",
            {"placement": {"tolerations": [{"key": "k", "tolerationSeconds": "60"}]}},
            field="spec.placement.tolerations[0].tolerationSeconds"),
    Refused("too-many-tolerations",
            {"placement": {"tolerations": [{"key": f"k{i}"} for i in range(65)]}},
            field="spec.placement.tolerations"),
    Refused("too-many-pins", _model(sha256={f"f{i}": HEX64 for i in range(4097)}),
            field="spec.model.sha256"),
    Refused("engine-unknown", {"runtime": {"engine": "tgi"}}, field="spec.runtime.engine"),
    Refused("too-many-engine-args",
            {"runtime": {"engine": "vllm", "engineArgs": ["--enforce-eager"] * 65}},
            field="spec.runtime.engineArgs"),
    Refused("too-many-requests",
            {"resources": {"requests": {f"example.com/r{i}": 1 for i in range(33)}}},
            field="spec.resources.requests"),
]  # fmt: skip

REFUSED = REFUSED_BY_CEL + REFUSED_BY_SCHEMA

# Edge cases next to the rules: both the API server and the Python checks accept them.
ACCEPTED = [
    Manifest("name-45", name="a" * 45),
    Manifest("repo-dots-and-git-inside", {"model": {"repo": "acme.ai/tiny.gitx"}}),
    Manifest("revision-path", _model(revision="release/v1.2")),
    Manifest("revision-commit", _model(revision="0123456789abcdef0123456789abcdef01234567")),
    Manifest("include-dots-in-names", _model(include=["a..b/*.json", "./model.safetensors"])),
    Manifest("sha256-nested", _model(sha256={"sub/model.safetensors": HEX64})),
    Manifest("gpu-full", {"gpu": {"count": 1, "products": ["T4", "L4"], "minMemory": "1Mi"}}),
    Manifest("requests-equal-limits-other-units",
             {"resources": {"requests": {"memory": "1Gi", "cpu": "500m"},
                            "limits": {"memory": "1024Mi", "cpu": "0.5"}}}),
    Manifest("request-without-limit", {"resources": {"requests": {"cpu": 8}, "limits": {}}}),
    Manifest("other-gpu-resource-passed-through",
             {"gpu": {"count": 1, "resourceName": "nvidia.com/mig-1g.10gb"},
              "resources": {"limits": {"nvidia.com/gpu": 1}}}),
    Manifest("cache-size-int", {"cache": {"size": 1}}),
    Manifest("vllm-with-engine-args",
             {"gpu": {"count": 2},
              "runtime": {"engine": "vllm",
                          "engineArgs": ["--max-model-len", "4096", "--enable-prefix-caching"]}}),
    Manifest("builtin-with-empty-engine-args",
             {"runtime": {"engine": "builtin", "engineArgs": []}}),
    Manifest("cache-by-name", {"cache": {"name": "shared"}}),
    Manifest("cache-by-name-36", {"cache": {"name": "c" * 36}}),
    Manifest("cache-inline-all-fields",
             {"cache": {"size": "1Gi", "storageClassName": "standard",
                        "accessMode": "ReadWriteOnce", "retention": "Delete"}}),
    Manifest("tolerations",
             {"placement": {"tolerations": [
                 {"key": "a", "operator": "Exists", "value": ""},
                 {"key": "b", "operator": "Equal", "value": "x", "effect": "NoExecute",
                  "tolerationSeconds": 30},
                 {"key": "c", "operator": "", "effect": ""},
                 {"key": "d", "value": None, "effect": None}]}}),
]  # fmt: skip


@dataclass(frozen=True)
class CacheManifest(Manifest):
    """A ModelCache: a spec merged over {storage: {size: 1Gi}} (a None drops the key)."""

    def body(self) -> dict[str, Any]:
        spec = {"storage": {"size": "1Gi"}, **self.spec}
        return {
            "apiVersion": "modeldeploy.io/v1alpha1",
            "kind": "ModelCache",
            "metadata": {"name": self.object_name},
            "spec": {key: value for key, value in spec.items() if value is not None},
        }


@dataclass(frozen=True)
class CacheRefused(CacheManifest):
    """Refused at apply; the message names `field` (a Python path starts with it)."""

    field: str = ""


def _storage(**fields: Any) -> dict[str, Any]:
    return {"storage": {"size": "1Gi", **fields}}


CACHE_REFUSED_BY_CEL = [
    CacheRefused("size-zero", {"storage": {"size": 0}}, field="spec.storage.size"),
    CacheRefused("size-zero-gi", {"storage": {"size": "0Gi"}}, field="spec.storage.size"),
    CacheRefused("access-mode-one-pod", _storage(accessMode="ReadWriteOncePod"),
                 field="spec.storage.accessMode"),
    CacheRefused("verify-every-30s", {"verify": {"every": "30s"}}, field="spec.verify.every"),
    CacheRefused("verify-every-59s", {"verify": {"every": "59s"}}, field="spec.verify.every"),
    CacheRefused("verify-every-zero", {"verify": {"every": "0m"}}, field="spec.verify.every"),
    CacheRefused("verify-every-zeros-and-seconds", {"verify": {"every": "0d00h0m059s"}},
                 field="spec.verify.every"),
    CacheRefused("verify-every-bare-zero", {"verify": {"every": "0"}}, field="spec.verify.every"),
    CacheRefused("verify-every-parts-short", {"verify": {"every": "30s29.9s"}},
                 field="spec.verify.every"),
    CacheRefused("verify-every-fraction-short", {"verify": {"every": ".0166h"}},
                 field="spec.verify.every"),
    CacheRefused("max-unused-zero", {"retention": {"maxUnusedFor": "0h0.0s"}},
                 field="spec.retention.maxUnusedFor"),
    CacheRefused("max-unused-bare-zero", {"retention": {"maxUnusedFor": "0"}},
                 field="spec.retention.maxUnusedFor"),
    CacheRefused("watermarks-equal", {"retention": {"highWatermark": 80, "lowWatermark": 80}},
                 field="spec.retention.lowWatermark"),
    CacheRefused("low-watermark-over-default-high", {"retention": {"lowWatermark": 95}},
                 field="spec.retention.lowWatermark"),
    CacheRefused("preload-repo-double-dash", {"preload": [{"repo": "acme/a--b"}]},
                 field="spec.preload[0].repo"),
    CacheRefused("preload-include-parent",
                 {"preload": [{"repo": "acme/a"}, {"repo": "acme/b", "include": ["../x"]}]},
                 field="spec.preload[1].include[0]"),
]  # fmt: skip

CACHE_REFUSED_BY_SCHEMA = [
    CacheRefused("name-too-long", name="m" * 37, field="metadata.name"),
    CacheRefused("storage-missing", {"storage": None}, field="spec.storage"),
    CacheRefused("size-missing", {"storage": {"storageClassName": "standard"}},
                 field="spec.storage.size"),
    CacheRefused("size-negative", {"storage": {"size": "-1Gi"}}, field="spec.storage.size"),
    CacheRefused("access-mode-unknown", _storage(accessMode="ReadOnlyMany"),
                 field="spec.storage.accessMode"),
    CacheRefused("verify-every-no-unit", {"verify": {"every": "3600"}}, field="spec.verify.every"),
    CacheRefused("verify-every-weeks", {"verify": {"every": "1w"}}, field="spec.verify.every"),
    CacheRefused("verify-every-milliseconds", {"verify": {"every": "90000ms"}},
                 field="spec.verify.every"),
    CacheRefused("verify-every-space", {"verify": {"every": "1h 30m"}},
                 field="spec.verify.every"),
    CacheRefused("verify-every-too-long", {"verify": {"every": "1" * 32 + "s"}},
                 field="spec.verify.every"),
    CacheRefused("max-unused-negative", {"retention": {"maxUnusedFor": "-1h"}},
                 field="spec.retention.maxUnusedFor"),
    CacheRefused("high-watermark-over-100", {"retention": {"highWatermark": 101}},
                 field="spec.retention.highWatermark"),
    CacheRefused("low-watermark-100", {"retention": {"lowWatermark": 100,
                                                     "highWatermark": 100}},
                 field="spec.retention.lowWatermark"),
    CacheRefused("repair-not-a-boolean", {"verify": {"repair": "yes"}},
                 field="spec.verify.repair"),
    CacheRefused("too-many-preloads", {"preload": [{"repo": f"acme/m{i}"} for i in range(65)]},
                 field="spec.preload"),
]  # fmt: skip

CACHE_REFUSED = CACHE_REFUSED_BY_CEL + CACHE_REFUSED_BY_SCHEMA

CACHE_ACCEPTED = [
    CacheManifest("minimal"),
    CacheManifest("name-36", name="m" * 36),
    CacheManifest("full", {
        "storage": {"storageClassName": "standard", "size": "200Gi",
                    "accessMode": "ReadWriteOnce"},
        "suspend": True,
        "preload": [{"repo": "acme/tiny-llama", "revision": "main",
                     "endpoint": "http://hub-mirror:8090",
                     "tokenSecretRef": {"name": "hf-token", "key": "token"},
                     "include": ["*.safetensors", "*.json"],
                     "sha256": {"model.safetensors": HEX64}}],
        "verify": {"every": "1m", "repair": False},
        "retention": {"maxUnusedFor": "7d", "highWatermark": 100, "lowWatermark": 0},
    }),
    CacheManifest("size-int", {"storage": {"size": 1}}),
    CacheManifest("verify-every-60s", {"verify": {"every": "60s"}}),
    CacheManifest("verify-every-leading-zeros", {"verify": {"every": "0h01m"}}),
    CacheManifest("verify-every-1h30m", {"verify": {"every": "1h30m"}}),
    CacheManifest("verify-every-100s", {"verify": {"every": "100s"}}),
    CacheManifest("verify-every-all-units", {"verify": {"every": "1d2h3m4s"}}),
    CacheManifest("verify-every-parts-sum", {"verify": {"every": "30s30s"}}),
    CacheManifest("verify-every-any-order", {"verify": {"every": "30m1h"}}),
    CacheManifest("verify-every-fraction", {"verify": {"every": "1.5h"}}),
    CacheManifest("verify-every-fraction-of-a-day", {"verify": {"every": ".001d"}}),
    CacheManifest("verify-every-trailing-dot", {"verify": {"every": "1.m"}}),
    CacheManifest("max-unused-1s", {"retention": {"maxUnusedFor": "1s"}}),
    CacheManifest("watermarks-adjacent", {"retention": {"highWatermark": 91,
                                                       "lowWatermark": 90}}),
]  # fmt: skip
