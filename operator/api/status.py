"""`ModelDeployment.status`: what the operator observed, never what it hopes.

Every field the operator writes is declared here: the API server prunes undeclared
status fields silently, so this schema is also the list of what status can say.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from modeldeploy.operator.api.types import ApiModel, CommitSha


class Phase(StrEnum):
    PENDING = "Pending"
    RESOLVING = "Resolving"
    DOWNLOADING = "Downloading"
    VERIFYING = "Verifying"
    DEPLOYING = "Deploying"
    LOADING = "Loading"
    WARMING_UP = "WarmingUp"
    READY = "Ready"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


class ConditionType(StrEnum):
    RESOLVED = "Resolved"
    FETCHED = "Fetched"
    VERIFIED = "Verified"
    SCHEDULED = "Scheduled"
    READY = "Ready"
    DEGRADED = "Degraded"
    SPEC_VALID = "SpecValid"
    MODEL_INTACT = "ModelIntact"
    """With spec.cache.name: the shared directory is Verified (False: Corrupted, Repairing)."""
    FALLBACK_ACTIVE = "FallbackActive"
    """With spec.fallbacks: True while a candidate other than spec.model serves."""


class CandidateState(StrEnum):
    """One candidate model (spec.model is 0, spec.fallbacks[i] is i+1), as last seen."""

    ACTIVE = "Active"
    STANDBY = "Standby"
    TRYING = "Trying"
    UNAVAILABLE = "Unavailable"
    UNTRIED = "Untried"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class CachedModelState(StrEnum):
    """A model directory on a ModelCache's volume, as the volume itself shows it."""

    VERIFIED = "Verified"
    FETCHING = "Fetching"
    INCOMPLETE = "Incomplete"
    CORRUPTED = "Corrupted"
    REPAIRING = "Repairing"
    EVICTING = "Evicting"


Reason = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    ),
]


class Condition(ApiModel):
    """A condition, as in the Kubernetes API conventions (metav1.Condition)."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=316)] = Field(
        description="Condition type. ModelDeployment: Resolved, Fetched, Verified, Scheduled, "
        "Ready, Degraded, SpecValid, ModelIntact. ModelCache: Ready, Degraded, SpecValid."
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: Reason = Field(description="CamelCase reason for the last transition.")
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(
        default="", description="Human-readable details."
    )
    last_transition_time: str = Field(
        json_schema_extra={"format": "date-time"},
        description="When the status last changed (RFC 3339).",
    )
    observed_generation: int = Field(
        default=0, ge=0, description="The .metadata.generation this condition was set for."
    )


class DownloadStatus(ApiModel):
    """Progress of the model download, updated while it runs."""

    bytes_done: int = Field(default=0, ge=0, description="Bytes downloaded and verified.")
    bytes_total: int = Field(default=0, ge=0, description="Bytes to download.")
    files_done: int = Field(default=0, ge=0, description="Files downloaded and verified.")
    files_total: int = Field(default=0, ge=0, description="Files to download.")
    bytes_per_second: float = Field(default=0.0, ge=0, description="Current download speed.")
    eta_seconds: float | None = Field(
        default=None, ge=0, description="Estimated seconds left; absent when unknown."
    )


class VerificationStatus(ApiModel):
    """What was verified, against what."""

    algorithm: str = Field(default="sha256", description="Hash algorithm of every file check.")
    manifest_digest: str | None = Field(
        default=None, description="sha256 of the fetch manifest (the list of file digests)."
    )
    files: dict[str, str] = Field(
        default_factory=dict, description="Verified sha256 by file path (small repos only)."
    )
    verified_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the files were verified (RFC 3339).",
    )


class PlacementStatus(ApiModel):
    """Where replicas go and what they need."""

    gpu_product: str | None = Field(
        default=None, description="GPU product chosen (best fitting allowed product)."
    )
    gpus_per_replica: int = Field(default=0, ge=0, description="GPUs each replica requests.")
    estimated_gpu_memory: str | None = Field(
        default=None,
        description="Estimated device memory per replica (weights at the target dtype plus "
        "runtime overhead), as a quantity such as 13Gi.",
    )


class ReplicaStatus(ApiModel):
    """One replica, as its runtime reports itself (GET /status on the pod)."""

    name: str = Field(description="Pod name.")
    node: str | None = Field(default=None, description="Node the pod runs on.")
    state: str = Field(
        description="Runtime state: Starting, Fetching, Verifying, Loading, WarmingUp, Ready, "
        "Draining, Failed; Pending or Unreachable when the runtime cannot be asked."
    )
    progress: float = Field(default=0.0, ge=0, le=1, description="Progress of the state, 0-1.")
    ready: bool = Field(default=False, description="The runtime itself reports Ready.")
    reason: str | None = Field(default=None, description="Failure or waiting reason.")
    message: str | None = Field(default=None, description="Details of the reason.")
    restarts: int = Field(default=0, ge=0, description="Container restarts.")


class Timings(ApiModel):
    """Seconds spent in each stage of the latest rollout."""

    resolve_seconds: float | None = Field(default=None, ge=0, description="Resolving the revision.")
    download_seconds: float | None = Field(default=None, ge=0, description="Downloading.")
    verify_seconds: float | None = Field(default=None, ge=0, description="Verifying hashes.")
    load_seconds: float | None = Field(default=None, ge=0, description="Loading onto the device.")
    warmup_seconds: float | None = Field(default=None, ge=0, description="The warm-up pass.")


class SharedCacheStatus(ApiModel):
    """The ModelCache directory this ModelDeployment mounts (spec.cache.name)."""

    name: str = Field(description="The ModelCache (spec.cache.name).")
    directory: str | None = Field(
        default=None,
        description="The model's directory on the cache volume (repo, commit and file "
        "selection: one directory per distinct selection).",
    )
    state: CachedModelState | None = Field(
        default=None,
        description="State of that directory: Verified, Fetching, Incomplete, Corrupted, "
        "Repairing or Evicting; absent while unknown. Replicas start only on Verified.",
    )
    message: str | None = Field(default=None, description="Details, e.g. the files found bad.")


class UsageStatus(ApiModel):
    """How much the replicas were used, from their runtimes' reports."""

    requests: int = Field(
        default=0,
        ge=0,
        description="Completed /v1 requests, summed over replicas and kept across restarts.",
    )
    last_used: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When a replica last completed a request (RFC 3339).",
    )


class ActiveModel(ApiModel):
    """The candidate the replicas serve (set once one has been Ready)."""

    index: int = Field(ge=0, description="0: spec.model; i: spec.fallbacks[i-1].")
    repo: str = Field(description="Its repository (MODEL column).")
    commit: CommitSha | None = Field(default=None, description="The commit it serves.")
    reason: str | None = Field(
        default=None,
        description="Why not a better candidate: each better one's repo, reason and message.",
    )


class CandidateStatus(ApiModel):
    """What was last seen of one candidate."""

    index: int = Field(ge=0, description="0: spec.model; i: spec.fallbacks[i-1].")
    repo: str = Field(description="Its repository.")
    state: CandidateState = Field(description="Active, Standby, Trying, Unavailable, Untried.")
    reason: str | None = Field(default=None, description="Why it is not serving (typed).")
    message: str | None = Field(default=None, description="The failure, in words.")
    commit: CommitSha | None = Field(default=None, description="The commit last resolved.")
    last_tried: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When it was last tried (RFC 3339).",
    )
    retry_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When an Unavailable candidate is tried again (RFC 3339).",
    )
    failures: int = Field(
        default=0, ge=0, description="Failed trials in a row (each doubles the wait)."
    )
    task: str | None = Field(
        default=None, description="The task its runtimes reported serving, once one ran."
    )
    failing_since: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="Since when it has failed only transiently (RFC 3339).",
    )


class ModelDeploymentStatus(ApiModel):
    """Observed state of a ModelDeployment."""

    phase: Phase = Field(default=Phase.PENDING, description="Where the deployment stands.")
    message: str | None = Field(default=None, description="One-line summary of the phase.")
    observed_generation: int = Field(
        default=0, ge=0, description="The .metadata.generation this status describes."
    )
    resolved_revision: CommitSha | None = Field(
        default=None, description="The commit the revision resolved to (40 hex)."
    )
    resolved_from: str | None = Field(
        default=None,
        description="The spec.model.revision that resolvedRevision was resolved from (a "
        "changed revision is resolved again at once).",
    )
    short_revision: str | None = Field(
        default=None, description="First 12 characters of resolvedRevision (REVISION column)."
    )
    serving_revision: CommitSha | None = Field(
        default=None,
        description="The commit the current replicas serve (during a rollout "
        "it differs from resolvedRevision until the new commit is verified).",
    )
    progress: str | None = Field(
        default=None, description="Progress of the current phase, e.g. 42% (PROGRESS column)."
    )
    download: DownloadStatus | None = Field(default=None, description="Download progress.")
    verification: VerificationStatus | None = Field(default=None, description="Verification.")
    placement: PlacementStatus | None = Field(default=None, description="Placement.")
    replicas: int = Field(default=0, ge=0, description="Replicas that exist (scale subresource).")
    ready_replicas: int = Field(default=0, ge=0, description="Replicas whose runtime is Ready.")
    ready: str | None = Field(default=None, description="ready/desired (READY column).")
    selector: str | None = Field(
        default=None, description="Label selector of the replicas (scale subresource)."
    )
    replica_statuses: list[ReplicaStatus] = Field(
        default_factory=list, description="Per-replica runtime state."
    )
    timings: Timings | None = Field(default=None, description="Seconds spent per stage.")
    cache: SharedCacheStatus | None = Field(
        default=None, description="The shared cache directory mounted (with spec.cache.name)."
    )
    usage: UsageStatus | None = Field(default=None, description="Requests served.")
    active_model: ActiveModel | None = Field(
        default=None, description="The candidate model that serves (MODEL column)."
    )
    candidates: list[CandidateStatus] = Field(
        default_factory=list,
        description="With spec.fallbacks: every candidate, what was last seen of it.",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Conditions (Kubernetes conventions), one per type.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
