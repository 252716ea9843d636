"""The ModelCache resource: a shared, inventoried, re-verified and self-cleaning model store.

One volume holds one directory per model (repo, commit and file selection); every
ModelDeployment that names the cache (`spec.cache.name`) and selects the same files of the
same commit mounts the same directory, fetched once. The status is what the volume shows
(an inventory taken by looking at it), never only what the operator remembers.

As for ModelDeployment, every field has a description (`kubectl explain modelcache.spec`), the
API server refuses at apply what the schema and the CEL rules (`rules`) can say, and
`validation.validate_model_cache` checks the same in Python.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field

from modeldeploy.operator.api import rules
from modeldeploy.operator.api.resource import API_VERSION, GROUP
from modeldeploy.operator.api.spec import AccessMode, ModelSource
from modeldeploy.operator.api.status import CachedModelState, Condition
from modeldeploy.operator.api.types import ApiModel, DnsSubdomain, Duration, Quantity

__all__ = [
    "API_VERSION",
    "CRD_NAME",
    "GROUP",
    "KIND",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "CacheConditionType",
    "CacheStorage",
    "CachedModel",
    "CachedModelState",
    "ModelCache",
    "ModelCacheSpec",
    "ModelCacheStatus",
    "PendingFetch",
    "RetentionPolicy",
    "VerifyPolicy",
]

KIND = "ModelCache"
PLURAL = "modelcaches"
SINGULAR = "modelcache"
SHORT_NAMES = ("mcache",)
CRD_NAME = f"{PLURAL}.{GROUP}"

DEFAULT_VERIFY_EVERY = "24h"
MIN_VERIFY_EVERY = "1m"
DEFAULT_MAX_UNUSED_FOR = "168h"
# Bounds the cost of the CEL rules of each preload (ModelSource's own rules, per item).
MAX_PRELOADS = 64


class CacheStorage(ApiModel):
    """The volume (a PersistentVolumeClaim the operator creates for the cache)."""

    storage_class_name: DnsSubdomain | None = Field(
        default=None,
        description="StorageClass of the volume. Default: the operator's configured class, "
        "else the cluster default.",
    )
    size: Quantity = Field(
        description="Size of the volume, e.g. 200Gi. The watermarks are percentages of the "
        "bound claim's capacity.",
        json_schema_extra=rules.validations(rules.POSITIVE_QUANTITY),
    )
    access_mode: AccessMode = Field(
        default=AccessMode.READ_WRITE_MANY,
        description="Access mode of the volume: ReadWriteMany (replicas on any node), or "
        "ReadWriteOnce (every replica and Job on the node that holds the volume). "
        "ReadWriteOncePod is refused: the Jobs and every replica mount the volume.",
        json_schema_extra=rules.validations(rules.SHARED_ACCESS_MODE),
    )


class VerifyPolicy(ApiModel):
    """The scheduled integrity check: a Job re-hashes every byte of every model."""

    every: Duration = Field(
        default=DEFAULT_VERIFY_EVERY,
        description="How often every model is re-hashed against its manifest: a duration "
        "such as 30m, 24h, 1h30m, 1.5h or 7d (units s, m, h, d); at least 1m.",
        json_schema_extra=rules.validations(rules.AT_LEAST_A_MINUTE),
    )
    repair: bool = Field(
        default=True,
        description="Re-fetch only the files found bad (the model goes back to Verified). "
        "false: the model stays Corrupted and no new replica starts on it.",
    )


class RetentionPolicy(ApiModel):
    """What is removed from the volume, and when (each removal raises an Event).

    A model in use or being fetched is never removed. Old commits no ModelDeployment uses
    any more go first; then models unused for longer than maxUnusedFor (preloads exempt);
    and while the volume is fuller than highWatermark, the least recently used unused
    models (preloads included) until it is at most lowWatermark full.
    """

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.WATERMARKS_ORDERED))

    max_unused_for: Duration = Field(
        default=DEFAULT_MAX_UNUSED_FOR,
        description="Remove a model nobody used for this long (preloads exempt): a duration "
        "such as 168h, 7d or 1d12h (units s, m, h, d); longer than 0.",
        json_schema_extra=rules.validations(rules.POSITIVE_DURATION),
    )
    high_watermark: int = Field(
        default=90,
        ge=1,
        le=100,
        description="Percent of the capacity above which least recently used, unused models "
        "are removed.",
    )
    low_watermark: int = Field(
        default=75,
        ge=0,
        le=99,
        description="Percent of the capacity that removal brings usage down to; below "
        "highWatermark.",
    )


class ModelCacheSpec(ApiModel):
    """A volume of verified models shared by the ModelDeployments that name it."""

    storage: CacheStorage = Field(description="The volume.")
    suspend: bool = Field(
        default=False,
        description="Pause the preloads and the maintenance Jobs (verify, repair, removal): "
        "their Jobs are suspended, partial files stay, and resuming continues from them.",
    )
    preload: list[ModelSource] = Field(
        default_factory=list,
        max_length=MAX_PRELOADS,
        description="Models fetched and kept verified before anyone asks (repo, revision, "
        "endpoint, tokenSecretRef and the file selection, as in a ModelDeployment's "
        "spec.model). Exempt from maxUnusedFor, not from the watermarks.",
    )
    verify: VerifyPolicy = Field(default=VerifyPolicy(), description="Scheduled integrity checks.")
    retention: RetentionPolicy = Field(
        default=RetentionPolicy(), description="What is removed from the volume, and when."
    )


class CacheConditionType(StrEnum):
    """The condition types of a ModelCache (status.Condition, as for a ModelDeployment)."""

    READY = "Ready"
    """The volume is bound and its inventory taken."""
    DEGRADED = "Degraded"
    """A model is Corrupted, or a maintenance Job fails."""
    SPEC_VALID = "SpecValid"


class CachedModel(ApiModel):
    """One model directory on the volume, as an inventory of the volume found it."""

    name: str = Field(description="The directory's name on the volume.")
    repo: str | None = Field(default=None, description="Hugging Face repository id.")
    revision: str | None = Field(default=None, description="The revision it was fetched for.")
    commit: str | None = Field(default=None, description="The commit (40 hex).")
    bytes: int = Field(
        default=0, ge=0, description="Bytes under the directory (partial files included)."
    )
    files: int = Field(default=0, ge=0, description="Files of the model.")
    state: CachedModelState = Field(
        default=CachedModelState.INCOMPLETE,
        description="Verified (manifest present, no corruption found), Fetching (a live fetch "
        "holds its lock), Incomplete (no manifest, no live fetch), Corrupted (a verify found "
        "bad files), Repairing, Evicting. Only Verified is ever mounted.",
    )
    verified_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When every byte was last verified (RFC 3339).",
    )
    last_used: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When a replica last served a request from it (RFC 3339).",
    )
    requests: int = Field(default=0, ge=0, description="Requests served from it.")
    used_by: list[str] = Field(
        default_factory=list, description="ModelDeployments that mount it now."
    )
    bad_files: list[str] = Field(
        default_factory=list, description="Files the last verify found bad, with the reason."
    )
    bytes_done: int | None = Field(
        default=None, ge=0, description="While Fetching or Repairing: bytes fetched so far."
    )
    bytes_total: int | None = Field(
        default=None, ge=0, description="While Fetching or Repairing: bytes to fetch."
    )
    message: str | None = Field(default=None, description="Details of the state.")


class PendingFetch(ApiModel):
    """A download the cache did not start, and why (nothing of it is on the volume)."""

    name: str = Field(description="The directory it would fill.")
    repo: str = Field(description="Hugging Face repository id.")
    commit: str = Field(description="The commit (40 hex).")
    bytes_needed: int = Field(ge=0, description="Bytes the download needs (at least).")
    reason: str = Field(description="Why it waits, e.g. InsufficientCacheSpace.")
    message: str = Field(description="The numbers: needed, free, capacity.")


class ModelCacheStatus(ApiModel):
    """Observed state of a ModelCache: the inventory of its volume."""

    observed_generation: int = Field(
        default=0, ge=0, description="The .metadata.generation this status describes."
    )
    message: str | None = Field(default=None, description="One-line summary.")
    capacity_bytes: int | None = Field(
        default=None, ge=0, description="Capacity of the bound claim, in bytes."
    )
    used_bytes: int = Field(
        default=0, ge=0, description="Bytes of every model directory, incomplete ones included."
    )
    used_percent: int | None = Field(
        default=None, ge=0, description="usedBytes in percent of capacityBytes."
    )
    used: str | None = Field(
        default=None, description="usedBytes for people, with its percent: 23.8 MiB (1%) (USED)."
    )
    capacity: str | None = Field(
        default=None, description="capacityBytes for people: 20.0 GiB (CAPACITY)."
    )
    model_count: int = Field(default=0, ge=0, description="Model directories (MODELS).")
    last_verified: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the last scheduled verify finished (RFC 3339; LAST-VERIFIED).",
    )
    inventory_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the volume was last looked at (the inventory in models; RFC 3339).",
    )
    next_verify_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the next scheduled verify starts (verify.every after the last).",
    )
    next_inventory_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the volume is next inventoried (between verifies).",
    )
    last_cleanup_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the retention policy last ran (RFC 3339).",
    )
    pending: list[PendingFetch] = Field(
        default_factory=list,
        description="Downloads wanted but not started, each with its reason (e.g. "
        "InsufficientCacheSpace).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    models: list[CachedModel] = Field(
        default_factory=list,
        description="Every model directory on the volume.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Conditions (Kubernetes conventions), one per type.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class ModelCache(ApiModel):
    """A shared volume of verified models, inventoried, re-verified and cleaned by policy."""

    api_version: Literal["modeldeploy.io/v1alpha1"] = Field(
        default="modeldeploy.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["ModelCache"] = "ModelCache"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ModelCacheSpec
    status: ModelCacheStatus | None = None
