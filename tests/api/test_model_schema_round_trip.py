"""Round trip: model -> CRD schema -> sample object -> model, with nothing lost."""

from __future__ import annotations

from typing import Any

import jsonschema

from modeldeploy.operator.api import cache, resource, status
from modeldeploy.operator.api.spec import AccessMode, ModelDeploymentSpec

FULL_SPEC: dict[str, Any] = {
    "model": {
        "repo": "acme/tiny-llama",
        "revision": "0123456789abcdef0123456789abcdef01234567",
        "endpoint": "http://hub-mirror:8090",
        "tokenSecretRef": {"name": "hf-token", "key": "token"},
        "include": ["*.safetensors", "*.json"],
        "allowPickle": False,
        "sha256": {"model.safetensors": "ab" * 32},
    },
    "task": "text-generation",
    "replicas": 2,
    "suspend": False,
    "gpu": {
        "count": 1,
        "products": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"],
        "minMemory": "40Gi",
        "resourceName": "nvidia.com/gpu",
    },
    "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "16Gi"}},
    "cache": {"storageClassName": "standard", "size": "20Gi", "accessMode": "ReadWriteMany",
              "retention": "Delete"},
    "runtime": {"image": "ghcr.io/example/modeldeploy:0.1.0", "engine": "vllm",
                "engineArgs": ["--max-model-len=4096"], "dtype": "bfloat16",
                "verify": "full", "port": 8080,
                "warmup": {"enabled": True, "prompt": "Hello", "maxTokens": 8},
                "servedModelName": "tiny-llama", "queueWhileLoading": 30},
    "fallbacks": [{"repo": "acme/tinier-llama", "revision": "v2", "allowPickle": False,
                   "include": [], "sha256": {}}],
    "fallbackPolicy": {"retryPreferredEvery": "15m", "transientGrace": "10m"},
    "placement": {"nodeSelector": {"pool": "gpu"},
                  "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                  "affinity": {"podAntiAffinity": {}}},
    "monitoring": {"serviceMonitor": True},
}  # fmt: skip


def test_full_spec_survives_the_round_trip(openapi_validator: jsonschema.Draft7Validator) -> None:
    obj = {"apiVersion": resource.API_VERSION, "kind": resource.KIND,
           "metadata": {"name": "tiny"}, "spec": FULL_SPEC}  # fmt: skip
    assert list(openapi_validator.iter_errors(obj)) == []
    model = resource.ModelDeployment.model_validate(obj)
    dumped = model.spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert dumped == FULL_SPEC


def test_defaults_fill_a_minimal_spec_the_same_way_in_schema_and_model() -> None:
    spec = ModelDeploymentSpec.model_validate({"model": {"repo": "acme/x"}})
    assert spec.gpu.count == 0, "no gpu section means CPU only"
    assert spec.model.revision == "main"
    assert spec.runtime.warmup.enabled is True
    # The schema's own defaults agree with the model's.
    from modeldeploy.operator.api import crd

    props = crd.openapi_schema()["properties"]["spec"]["properties"]
    assert props["gpu"]["default"] == {"count": 0}
    assert props["model"]["properties"]["revision"]["default"] == "main"
    assert props["replicas"]["default"] == spec.replicas


def test_status_written_by_the_operator_fits_the_status_schema(
    openapi_validator: jsonschema.Draft7Validator,
) -> None:
    written = status.ModelDeploymentStatus(
        phase=status.Phase.DOWNLOADING,
        resolved_revision="f" * 40,
        short_revision="f" * 12,
        progress="42%",
        download=status.DownloadStatus(bytes_done=42, bytes_total=100, files_done=1, files_total=3),
        replicas=1,
        ready="0/1",
        conditions=[status.Condition(type="Resolved", status=status.ConditionStatus.TRUE,
                                     reason="Resolved",
                                     last_transition_time="2026-11-23T12:00:00Z")],
    )  # fmt: skip
    payload = written.model_dump(by_alias=True, mode="json", exclude_none=True)
    obj = {"apiVersion": resource.API_VERSION, "kind": resource.KIND, "metadata": {},
           "spec": {"model": {"repo": "a/b"}}, "status": payload}  # fmt: skip
    assert list(openapi_validator.iter_errors(obj)) == []
    assert status.ModelDeploymentStatus.model_validate(payload) == written


def test_status_with_a_shared_cache_and_usage_fits_the_status_schema(
    openapi_validator: jsonschema.Draft7Validator,
) -> None:
    written = status.ModelDeploymentStatus(
        cache=status.SharedCacheStatus(name="shared", directory="acme--tiny--" + "f" * 40,
                                       state=status.CachedModelState.VERIFIED),
        usage=status.UsageStatus(requests=12, last_used="2026-11-23T12:00:00Z"),
    )  # fmt: skip
    payload = written.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert payload["cache"]["state"] == "Verified" and payload["usage"]["lastUsed"]
    obj = {"apiVersion": resource.API_VERSION, "kind": resource.KIND, "metadata": {},
           "spec": {"model": {"repo": "a/b"}}, "status": payload}  # fmt: skip
    assert list(openapi_validator.iter_errors(obj)) == []
    assert status.ModelDeploymentStatus.model_validate(payload) == written


FULL_CACHE_SPEC: dict[str, Any] = {
    "storage": {"storageClassName": "standard", "size": "200Gi", "accessMode": "ReadWriteMany"},
    "suspend": True,
    "preload": [FULL_SPEC["model"]],
    "verify": {"every": "12h", "repair": False},
    "retention": {"maxUnusedFor": "7d", "highWatermark": 80, "lowWatermark": 60},
}


def test_full_model_cache_spec_survives_the_round_trip(
    cache_openapi_validator: jsonschema.Draft7Validator,
) -> None:
    obj = {"apiVersion": resource.API_VERSION, "kind": cache.KIND,
           "metadata": {"name": "shared"}, "spec": FULL_CACHE_SPEC}  # fmt: skip
    assert list(cache_openapi_validator.iter_errors(obj)) == []
    model = cache.ModelCache.model_validate(obj)
    assert model.spec.model_dump(by_alias=True, mode="json", exclude_none=True) == FULL_CACHE_SPEC


def test_model_cache_defaults_agree_in_schema_and_model() -> None:
    spec = cache.ModelCacheSpec.model_validate({"storage": {"size": "1Gi"}})
    assert (spec.verify.every, spec.verify.repair) == ("24h", True)
    assert spec.retention == cache.RetentionPolicy(
        max_unused_for="168h", high_watermark=90, low_watermark=75
    )
    assert spec.storage.access_mode is AccessMode.READ_WRITE_MANY and spec.suspend is False
    from modeldeploy.operator.api import crd

    props = crd.openapi_schema(definition=crd.MODEL_CACHE)["properties"]["spec"]["properties"]
    retention = props["retention"]["properties"]
    assert props["verify"]["properties"]["every"]["default"] == spec.verify.every
    assert retention["maxUnusedFor"]["default"] == spec.retention.max_unused_for
    assert retention["highWatermark"]["default"] == spec.retention.high_watermark
    assert retention["lowWatermark"]["default"] == spec.retention.low_watermark
    assert props["storage"]["properties"]["accessMode"]["default"] == "ReadWriteMany"


def test_model_cache_status_fits_the_status_schema(
    cache_openapi_validator: jsonschema.Draft7Validator,
) -> None:
    written = cache.ModelCacheStatus(
        observed_generation=3, capacity_bytes=2**40, used_bytes=2**30, used_percent=0,
        model_count=1, last_verified="2026-11-23T12:00:00Z",
        models=[cache.CachedModel(
            name="acme--tiny--" + "a" * 40 + "--0123456789ab", repo="acme/tiny",
            revision="main", commit="a" * 40, bytes=2**30, files=3,
            state=cache.CachedModelState.CORRUPTED, verified_at="2026-11-23T12:00:00Z",
            last_used="2026-11-23T12:00:00Z", requests=7, used_by=["chat"],
            bad_files=["model.safetensors: sha256 mismatch"], message="repairing next")],
        conditions=[status.Condition(type="Degraded", status=status.ConditionStatus.TRUE,
                                         reason="ModelCorrupted",
                                         last_transition_time="2026-11-23T12:00:00Z")],
    )  # fmt: skip
    payload = written.model_dump(by_alias=True, mode="json", exclude_none=True)
    obj = {"apiVersion": resource.API_VERSION, "kind": cache.KIND, "metadata": {},
           "spec": {"storage": {"size": "1Gi"}}, "status": payload}  # fmt: skip
    assert list(cache_openapi_validator.iter_errors(obj)) == []
    assert cache.ModelCacheStatus.model_validate(payload) == written
