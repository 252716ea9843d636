"""`ModelDeployment.spec`: what the user asks for.

Every field has a description (it is what `kubectl explain` prints), a default where one
makes sense, and the constraints the API server can enforce at apply time: OpenAPI for
what one field may hold, CEL rules (`rules`, as `x-kubernetes-validations`) for rules across
fields, quantities and what a pattern cannot say. `validation.validate_model_deployment`
checks the same in Python, and what neither can say (the shape of a pass-through affinity).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from modeldeploy.operator.api import rules
from modeldeploy.operator.api.types import (
    ApiModel,
    CacheName,
    DnsSubdomain,
    Duration,
    LabelValue,
    PassThroughObject,
    Quantity,
    Sha256Hex,
    Toleration,
)

_REPO_PART = r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?"
REPO_PATTERN = rf"^({_REPO_PART}/)?{_REPO_PART}$"
REVISION_PATTERN = r"^([0-9a-f]{40}|[A-Za-z0-9_][A-Za-z0-9._/-]{0,254})$"
SERVED_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
ENDPOINT_PATTERN = r"^https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[^\s]*)?$"
# Bounds that keep the CEL rules' estimated cost within the API server's budget.
MAX_RESOURCES = 32
MAX_TOLERATIONS = 64
MAX_PINS = 4096  # spec.model.sha256; a ModelCache has up to 64 preloads, each with its pins
MAX_ENGINE_ARGS = 64
RESOURCE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"


class Task(StrEnum):
    AUTO = "auto"
    TEXT_GENERATION = "text-generation"
    EMBEDDINGS = "embeddings"


class DType(StrEnum):
    AUTO = "auto"
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


class Engine(StrEnum):
    """What serves the model inside `modeldeploy serve`."""

    BUILTIN = "builtin"
    VLLM = "vllm"


class VerifyMode(StrEnum):
    QUICK = "quick"
    FULL = "full"


class AccessMode(StrEnum):
    READ_WRITE_ONCE = "ReadWriteOnce"
    READ_WRITE_MANY = "ReadWriteMany"
    READ_WRITE_ONCE_POD = "ReadWriteOncePod"


class CacheRetention(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


DEFAULT_CACHE_ACCESS_MODE = AccessMode.READ_WRITE_MANY
DEFAULT_CACHE_RETENTION = CacheRetention.RETAIN


class SecretKeyRef(ApiModel):
    """A key of a Secret in the namespace of the object that names it."""

    name: DnsSubdomain = Field(description="Name of the Secret.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="token", description="Key in the Secret whose value is used (default token)."
    )


class ModelSource(ApiModel):
    """Which model to deploy, from which hub, at which revision."""

    repo: Annotated[str, StringConstraints(max_length=193, pattern=REPO_PATTERN)] = Field(
        description="Hugging Face repository id, e.g. 'acme/tiny-llama'.",
        json_schema_extra=rules.validations(
            rules.REPO_NO_DOUBLE_DASH_OR_DOTS, rules.REPO_NO_GIT_SUFFIX
        ),
    )
    revision: Annotated[str, StringConstraints(max_length=255, pattern=REVISION_PATTERN)] = Field(
        default="main",
        description="Branch, tag or full 40-hex commit. Resolved to a commit before any "
        "download; a branch is re-resolved periodically and a new commit rolls out only "
        "once it is fetched and verified.",
        json_schema_extra=rules.validations(rules.REVISION_IS_A_REF_NAME),
    )
    endpoint: (
        Annotated[str, StringConstraints(max_length=2048, pattern=ENDPOINT_PATTERN)] | None
    ) = Field(
        default=None,
        description="HF-compatible endpoint (a mirror). Default: the operator's configured "
        "endpoint, else the public hub.",
    )
    token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret holding a Hugging Face token for private or gated repos. The "
        "token is never written to status, events or logs.",
    )
    include: list[
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=256),
            Field(json_schema_extra=rules.validations(rules.PATH_INSIDE_REPOSITORY)),
        ]
    ] = Field(
        default_factory=list,
        max_length=64,
        description="Glob patterns of repository files to fetch (e.g. '*.safetensors'). "
        "Empty: every file the model needs.",
    )
    allow_pickle: bool = Field(
        default=False,
        description="Accept pickle weights (.bin, .pt, .pth, .ckpt) when a repo has no "
        "safetensors weights. Pickle files can run code when loaded: off by default.",
    )
    sha256: dict[str, Sha256Hex] = Field(
        default_factory=dict,
        max_length=MAX_PINS,
        description="Pinned sha256 digests by file path; they override the hub's metadata.",
        json_schema_extra=rules.validations(rules.KEYS_INSIDE_REPOSITORY),
    )


class GpuSpec(ApiModel):
    """GPUs per replica and where they may come from."""

    model_config = ConfigDict(
        json_schema_extra=rules.validations(rules.PRODUCTS_NEED_GPUS, rules.MIN_MEMORY_NEEDS_GPUS)
    )

    count: int = Field(
        default=1, ge=0, le=16, description="GPUs per replica. 0 runs the model on CPU."
    )
    products: list[LabelValue] = Field(
        default_factory=list,
        max_length=16,
        description="Allowed GPU products (node label nvidia.com/gpu.product), most "
        "preferred first. Empty: any product.",
        json_schema_extra=rules.validations(rules.NO_DUPLICATE_PRODUCT),
    )
    min_memory: Quantity | None = Field(
        default=None,
        description="Minimum memory per GPU (node label nvidia.com/gpu.memory), e.g. 40Gi.",
        json_schema_extra=rules.validations(rules.POSITIVE_QUANTITY),
    )
    resource_name: Annotated[
        str, StringConstraints(max_length=253, pattern=RESOURCE_NAME_PATTERN)
    ] = Field(
        default="nvidia.com/gpu",
        description="Extended resource to request: nvidia.com/gpu or a MIG profile such "
        "as nvidia.com/mig-3g.40gb.",
    )


class ResourceRequirements(ApiModel):
    """Compute resources of the runtime container (as in a Pod's container)."""

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.REQUESTS_WITHIN_LIMITS))

    requests: dict[str, Quantity] = Field(
        default_factory=dict,
        max_length=MAX_RESOURCES,
        description="Minimum resources, e.g. {cpu: '2', memory: 8Gi}.",
    )
    limits: dict[str, Quantity] = Field(
        default_factory=dict, max_length=MAX_RESOURCES, description="Maximum resources."
    )


class CacheSpec(ApiModel):
    """Where the replicas take the model from: a ModelCache by name, or an inline volume.

    Inline (no name): a PersistentVolumeClaim of this ModelDeployment, filled once by a fetch
    Job and mounted read-only by the replicas. With name: a directory of the named
    ModelCache, shared with every ModelDeployment that selects the same files of the same
    commit; the inline fields are then refused. The inline fields have no schema default
    (a default would be set together with name): `effective_access_mode` and
    `effective_retention` give the defaults.
    """

    model_config = ConfigDict(
        json_schema_extra=rules.validations(
            rules.SIZE_WITHOUT_NAME, *rules.INLINE_FIELDS_NOT_WITH_NAME
        )
    )

    name: CacheName | None = Field(
        default=None,
        description="A ModelCache of this namespace to take the model from, shared with "
        "other ModelDeployments. Excludes size, storageClassName, accessMode and retention.",
    )
    storage_class_name: DnsSubdomain | None = Field(
        default=None,
        description="Inline volume only: StorageClass of the cache volume. Default: the "
        "operator's configured class, else the cluster default.",
    )
    size: Quantity | None = Field(
        default=None,
        description="Inline volume only (and required there): size of the cache volume, e.g. 20Gi.",
        json_schema_extra=rules.validations(rules.POSITIVE_QUANTITY),
    )
    access_mode: AccessMode | None = Field(
        default=None,
        description="Inline volume only: access mode of the cache volume. Default "
        "ReadWriteMany; ReadWriteOnce keeps every replica on the node that holds the volume.",
    )
    retention: CacheRetention | None = Field(
        default=None,
        description="Inline volume only: what happens to the cache volume when the "
        "ModelDeployment is deleted. Default Retain.",
    )

    @property
    def inline(self) -> bool:
        """An inline volume of this ModelDeployment (no ModelCache named)."""
        return self.name is None

    @property
    def effective_access_mode(self) -> AccessMode:
        return self.access_mode or DEFAULT_CACHE_ACCESS_MODE

    @property
    def effective_retention(self) -> CacheRetention:
        return self.retention or DEFAULT_CACHE_RETENTION


class WarmupSpec(ApiModel):
    """The real forward pass that must succeed before a replica is Ready."""

    enabled: bool = Field(default=True, description="Run a warm-up pass before Ready.")
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = Field(
        default="Hello", description="Prompt (or sentence, for embeddings) of the warm-up pass."
    )
    max_tokens: int = Field(
        default=8, ge=1, le=512, description="Tokens generated by a text-generation warm-up."
    )


class RuntimeSpec(ApiModel):
    """How each replica runs `modeldeploy serve`."""

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.ENGINE_ARGS_NEED_VLLM))

    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None,
        description="Runtime container image. Default: the operator's configured image for "
        "the engine (vllm: its CUDA image with GPUs, its CPU image without).",
    )
    engine: Engine = Field(
        default=Engine.BUILTIN,
        description="The serving engine: builtin, or vllm (the vLLM engine behind the same "
        "states, probes and warm-up; its image comes from the operator's settings).",
    )
    engine_args: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list,
        max_length=MAX_ENGINE_ARGS,
        description="Extra vLLM arguments (engine vllm only), e.g. ['--max-model-len=4096']. "
        "Only tuning flags on an allow-list pass; anything that could load other bytes or "
        "reach out is refused (InvalidEngineArgs). With gpu.count > 1 the tensor parallel "
        "size defaults to the GPU count.",
    )
    dtype: DType = Field(
        default=DType.AUTO, description="Weights dtype on the device (auto: the checkpoint's)."
    )
    verify: VerifyMode = Field(
        default=VerifyMode.QUICK,
        description="Check at start: quick (manifest, sizes, headers) or full (re-hash).",
    )
    port: int = Field(default=8080, ge=1024, le=65535, description="HTTP port of the runtime.")
    warmup: WarmupSpec = Field(default=WarmupSpec(), description="Warm-up pass.")
    served_model_name: (
        Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=SERVED_NAME)] | None
    ) = Field(
        default=None,
        description="The model name clients send (OpenAI `model`). Default: the "
        "ModelDeployment's name. It stays the same whichever candidate model serves.",
    )
    queue_while_loading: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="Seconds a request that arrives before the runtime is Ready may wait for "
        "it (through the <name>-wait Service) instead of getting 503 at once; 0: no waiting.",
    )
    max_queue: int | None = Field(
        default=None,
        ge=1,
        le=100000,
        description="Requests that may wait at once, for Ready or for a batch slot; one more "
        "is answered 429 with Retry-After. Default: the runtime's (64).",
    )
    max_batch: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Requests decoded together (or embedded in one forward pass) at most. "
        "Default: the runtime's (16).",
    )
    request_timeout: int | None = Field(
        default=None,
        ge=0,
        le=86400,
        description="Seconds a request may take from arrival (queue included) to its last "
        "token; past it, 504. 0: no limit. Default: the runtime's (600).",
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret holding the API key clients must send as 'Authorization: Bearer "
        "<key>' on every /v1 request (401 otherwise); probes, /status and /metrics stay open. "
        "Mounted as a file (never in arguments or environment); an updated Secret applies "
        "without a restart.",
    )


class Placement(ApiModel):
    """Scheduling constraints merged with the ones the operator derives from `gpu`."""

    node_selector: dict[str, LabelValue] = Field(
        default_factory=dict, description="Node labels every replica's node must carry."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=MAX_TOLERATIONS,
        description="Extra tolerations (core/v1 Toleration).",
    )
    affinity: PassThroughObject = Field(
        default_factory=dict, description="Extra affinity (core/v1 Affinity), merged in."
    )


class MonitoringSpec(ApiModel):
    """Prometheus scraping of the runtime's /metrics."""

    service_monitor: bool = Field(
        default=False,
        description="Create a ServiceMonitor (needs the Prometheus operator's CRDs).",
    )


MAX_FALLBACKS = 4
"""Fallback models per ModelDeployment (each is a whole ModelSource: the CRD's CEL cost grows
with every one)."""


class FallbackPolicy(ApiModel):
    """When a fallback serves: how often the better candidates are tried again, and how long
    a preferred model that fails only transiently is waited for while nothing serves."""

    retry_preferred_every: Duration = Field(
        default="15m",
        description="Check the better candidates again this often (a duration such as 15m, "
        "1h; at least 1m). A candidate's wait doubles after each failed trial, up to 4x this.",
        json_schema_extra=rules.validations(rules.AT_LEAST_A_MINUTE),
    )
    transient_grace: Duration = Field(
        default="10m",
        description="While no candidate has ever been Ready: how long a candidate may fail "
        "only transiently (network errors, throttling) before the next one is tried.",
        json_schema_extra=rules.validations(rules.POSITIVE_DURATION),
    )


class ModelDeploymentSpec(ApiModel):
    """A model from the Hugging Face Hub, served by `replicas` verified, warmed-up runtimes."""

    model_config = ConfigDict(
        json_schema_extra=rules.validations(rules.NO_GPU_IN_REQUESTS, rules.NO_GPU_IN_LIMITS)
    )

    model: ModelSource = Field(description="The model to deploy (the preferred candidate).")
    fallbacks: list[ModelSource] = Field(
        default_factory=list,
        max_length=MAX_FALLBACKS,
        description="Models to serve instead when the preferred one cannot be (not found, "
        "gated, no fitting GPU, failed to load...), most preferred first; same shape as "
        "model. They must serve the same task. status.activeModel says which one serves.",
    )
    fallback_policy: FallbackPolicy = Field(
        default=FallbackPolicy(), description="Retrying better candidates; transient failures."
    )
    task: Task = Field(
        default=Task.AUTO, description="What to serve: text-generation, embeddings, or auto."
    )
    replicas: int = Field(default=1, ge=0, le=1000, description="Number of runtime replicas.")
    suspend: bool = Field(
        default=False, description="Scale to zero while keeping the cache and the status."
    )
    gpu: GpuSpec = Field(
        default=GpuSpec(count=0),
        description="GPUs per replica; omitted or count 0: CPU only.",
    )
    resources: ResourceRequirements = Field(
        default=ResourceRequirements(), description="Runtime container resources."
    )
    cache: CacheSpec | None = Field(
        default=None,
        description="Where the replicas take the model from: a ModelCache by name (shared "
        "with other ModelDeployments), or an inline volume of this ModelDeployment (size). "
        "Without it, every pod downloads and verifies the model itself.",
    )
    runtime: RuntimeSpec = Field(default=RuntimeSpec(), description="The runtime.")
    placement: Placement = Field(default=Placement(), description="Extra placement.")
    monitoring: MonitoringSpec = Field(default=MonitoringSpec(), description="Metrics scraping.")
