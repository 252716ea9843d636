"""The serving workload: a Deployment running `modeldeploy serve`, its Service, a ServiceMonitor.

Two ways to get the weights into a replica:
* cache (spec.cache set): the cache volume is mounted read-only at /cache and the runtime
  serves `/cache/<commit>`; it never downloads.
* per pod (no cache): an emptyDir at /model and `--repo/--revision/--endpoint`; the runtime
  fetches and verifies itself before loading (its /status says Fetching, Verifying).

With spec.runtime.apiKeySecretRef, the key's Secret is mounted read-only as a file and the
runtime gets its path (`--api-key-file`), never the key: arguments and environment are
readable by anyone who may read the pod.

Rollouts: maxUnavailable 0, so old replicas keep serving until new ones pass /readyz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modeldeploy.operator.api.spec import Engine, ModelDeploymentSpec, SecretKeyRef, VerifyMode
from modeldeploy.operator.planners import cache, engine, fetchjob, naming, placement, probes

MODEL_MOUNT = "/model"
API_KEY_VOLUME = "api-key"
SHM_VOLUME = "dshm"
API_KEY_MOUNT = "/var/run/modeldeploy/api-key"
API_KEY_FILE = f"{API_KEY_MOUNT}/api-key"
"""spec.runtime.apiKeySecretRef reaches the runtime as this file of a Secret volume (the whole
volume, not a subPath: kubelet then swaps in an updated Secret and the runtime re-reads it)."""
TERMINATION_LOG = "/dev/termination-log"
DRAIN_GRACE_SECONDS = 60
UNROUTE_SECONDS = 5
"""A pod being deleted keeps serving this long before its runtime gets SIGTERM (a preStop
sleep): Services stop sending it requests only once the endpoint controllers and kube-proxy
have caught up, and a runtime that drained at once would refuse those (seen on the real node
during a switch of fallback model). Counted in DRAIN_GRACE_SECONDS."""


@dataclass(frozen=True)
class WorkloadInputs:
    """What the Deployment depends on besides the spec."""

    names: naming.Names
    uid: str
    commit: str | None
    image: str
    endpoint: str | None
    replicas: int
    weight_bytes: int | None


def serve_args(
    spec: ModelDeploymentSpec, *, name: str, commit: str | None, endpoint: str | None
) -> list[str]:
    """`modeldeploy serve` arguments of the runtime container."""
    runtime = spec.runtime
    revision = commit or spec.model.revision
    model_dir = model_directory(spec, revision)
    args = [
        "serve",
        "--model-dir",
        model_dir,
        "--port",
        str(runtime.port),
        "--device",
        "cuda" if spec.gpu.count > 0 else "cpu",
        "--dtype",
        runtime.dtype.value,
        "--task",
        spec.task.value,
        "--served-model-name",
        runtime.served_model_name or name,
        "--termination-log",
        TERMINATION_LOG,
        *engine.serve_flags(spec),
    ]
    if runtime.verify is VerifyMode.FULL:
        args += ["--verify", "full"]
    if runtime.queue_while_loading:
        args += ["--queue-while-loading", str(runtime.queue_while_loading)]
    if runtime.max_queue is not None:
        args += ["--max-queue", str(runtime.max_queue)]
    if runtime.max_batch is not None:
        args += ["--max-batch", str(runtime.max_batch)]
    if runtime.request_timeout is not None:
        args += ["--request-timeout", str(runtime.request_timeout)]
    if runtime.api_key_secret_ref is not None:
        args += ["--api-key-file", API_KEY_FILE]
    if spec.cache is None:
        args += ["--repo", spec.model.repo, "--revision", revision]
        if endpoint:
            args += ["--endpoint", endpoint]
        args += fetchjob.selection_args(spec.model)
    if not runtime.warmup.enabled:
        args.append("--no-warmup")
    else:
        args += ["--warmup-prompt", runtime.warmup.prompt]
        args += ["--warmup-max-tokens", str(runtime.warmup.max_tokens)]
    return args


def model_directory(spec: ModelDeploymentSpec, revision: str) -> str:
    """Where the runtime finds the model: its own emptyDir (no cache), `/cache/<commit>` on
    an inline cache volume, or the shared directory of a ModelCache (repo, commit and file
    selection in its name)."""
    if spec.cache is None:
        return MODEL_MOUNT
    if spec.cache.name is None:
        return fetchjob.cache_dir(revision)
    if not cache.COMMIT.fullmatch(revision):
        return f"{fetchjob.CACHE_MOUNT}/{revision}"  # `render` before any resolve
    return f"{fetchjob.CACHE_MOUNT}/{cache.model_directory(spec.model, revision)}"


def container_resources(spec: ModelDeploymentSpec) -> dict[str, Any]:
    """The user's resources with the GPU resource added as a limit and an equal request."""
    gpus = placement.gpu_resources(spec.gpu)
    requests = {k: str(v) for k, v in spec.resources.requests.items()} | gpus
    limits = {k: str(v) for k, v in spec.resources.limits.items()} | gpus
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def _volumes(
    spec: ModelDeploymentSpec, names: naming.Names, *, commit: str | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tmp_volume: dict[str, Any] = {"name": "tmp", "emptyDir": {}}
    tmp_mount: dict[str, Any] = {"name": "tmp", "mountPath": fetchjob.SCRATCH}
    if spec.cache is None:
        model_volume = {"name": "model", "emptyDir": {}}
        return [model_volume, tmp_volume], [{"name": "model", "mountPath": MODEL_MOUNT}, tmp_mount]
    mount: dict[str, Any] = {
        "name": fetchjob.CACHE_VOLUME,
        "mountPath": fetchjob.CACHE_MOUNT,
        "readOnly": True,
    }
    claim_name = names.cache_claim
    if spec.cache.name is not None:
        claim_name = cache.claim_name(spec.cache.name)
        # A shared volume holds other deployments' models, fetched with their tokens: each
        # replica sees its own model's directory only.
        directory = model_directory(spec, commit or spec.model.revision)
        mount = {**mount, "mountPath": directory, "subPath": directory.rsplit("/", 1)[-1]}
    claim = {"claimName": claim_name, "readOnly": True}
    volumes = [{"name": fetchjob.CACHE_VOLUME, "persistentVolumeClaim": claim}, tmp_volume]
    return volumes, [mount, tmp_mount]


def shared_memory_volume(spec: ModelDeploymentSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """A memory-backed /dev/shm for vLLM: its engine core and workers talk over shared-memory
    ring buffers (160 MiB at least; NCCL between tensor-parallel GPUs takes more), and a
    container's own /dev/shm is 64 MiB. It counts against the container's memory limit."""
    size = f"{max(1, spec.gpu.count)}Gi"
    volume = {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": size}}
    return volume, {"name": SHM_VOLUME, "mountPath": "/dev/shm"}  # noqa: S108 - a mount point


def api_key_volume(ref: SecretKeyRef) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Secret volume holding the API key as the file `api-key`, and its read-only mount."""
    secret = {
        "secretName": ref.name,
        "items": [{"key": ref.key, "path": "api-key"}],
        "defaultMode": 0o440,
    }
    volume = {"name": API_KEY_VOLUME, "secret": secret}
    mount = {"name": API_KEY_VOLUME, "mountPath": API_KEY_MOUNT, "readOnly": True}
    return volume, mount


def runtime_container(
    spec: ModelDeploymentSpec, inputs: WorkloadInputs, mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    budget = probes.startup_budget(
        weight_bytes=inputs.weight_bytes,
        per_pod_download=spec.cache is None,
        full_verify=spec.runtime.verify is VerifyMode.FULL,
        engine=spec.runtime.engine.value,
    )
    env = [
        {"name": "HOME", "value": fetchjob.SCRATCH},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
    ]
    if spec.cache is None:
        env = fetchjob.token_env(spec) + env
    return {
        "name": "runtime",
        "image": inputs.image,
        "command": ["modeldeploy"],
        "args": serve_args(
            spec, name=inputs.names.name, commit=inputs.commit, endpoint=inputs.endpoint
        ),
        "ports": [{"name": "http", "containerPort": spec.runtime.port, "protocol": "TCP"}],
        "env": env,
        "resources": container_resources(spec),
        "volumeMounts": mounts,
        **probes.probes(budget),
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sleep", str(UNROUTE_SECONDS)]}}},
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            **fetchjob.restricted_container_security(),
            "readOnlyRootFilesystem": True,
        },
    }


def deployment(spec: ModelDeploymentSpec, inputs: WorkloadInputs) -> dict[str, Any]:
    """The runtime Deployment (replicas already decided: 0 when suspended or nothing fits)."""
    names = inputs.names
    labels = naming.child_labels(
        names.name, component=naming.COMPONENT_RUNTIME, commit=inputs.commit
    )
    annotations = {
        naming.ANNOTATION_COMMIT: inputs.commit or naming.UNRESOLVED_REVISION,
        naming.ANNOTATION_REPO: spec.model.repo,
    }
    volumes, mounts = _volumes(spec, names, commit=inputs.commit)
    if spec.runtime.api_key_secret_ref is not None:
        volume, mount = api_key_volume(spec.runtime.api_key_secret_ref)
        volumes, mounts = [*volumes, volume], [*mounts, mount]
    if spec.runtime.engine is Engine.VLLM:
        volume, mount = shared_memory_volume(spec)
        volumes, mounts = [*volumes, volume], [*mounts, mount]
    pod_spec: dict[str, Any] = {
        "containers": [runtime_container(spec, inputs, mounts)],
        "volumes": volumes,
        "terminationGracePeriodSeconds": DRAIN_GRACE_SECONDS,
        "securityContext": {"fsGroup": fetchjob.RUN_AS_GROUP_FS, "runAsNonRoot": True},
        "enableServiceLinks": False,
        **placement.pod_placement(spec),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": names.deployment,
            "namespace": names.namespace,
            "labels": labels,
            "annotations": dict(annotations),
            "ownerReferences": [naming.owner_reference(name=names.name, uid=inputs.uid)],
        },
        "spec": {
            "replicas": inputs.replicas,
            "selector": {"matchLabels": naming.runtime_selector(names.name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                "spec": pod_spec,
            },
        },
    }


def service(
    spec: ModelDeploymentSpec, *, names: naming.Names, uid: str, waiting: bool = False
) -> dict[str, Any]:
    """The ClusterIP Service in front of the Ready replicas (port `http`); `waiting`: the
    `<name>-wait` Service, which also routes to replicas not Ready yet (their runtimes answer
    503 with Retry-After, or hold a request up to queueWhileLoading, and serve the status page)."""
    extra = {"publishNotReadyAddresses": True} if waiting else {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names.wait_service if waiting else names.service,
            "namespace": names.namespace,
            "labels": naming.common_labels(names.name)
            | {naming.LABEL_COMPONENT: naming.COMPONENT_RUNTIME},
            "ownerReferences": [naming.owner_reference(name=names.name, uid=uid)],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": naming.runtime_selector(names.name),
            "ports": [
                {"name": "http", "port": spec.runtime.port, "targetPort": "http", "protocol": "TCP"}
            ],
            **extra,
        },
    }


def service_monitor(*, names: naming.Names, uid: str) -> dict[str, Any]:
    """A Prometheus-operator ServiceMonitor scraping the runtime's /metrics."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {
            "name": names.service_monitor,
            "namespace": names.namespace,
            "labels": naming.common_labels(names.name),
            "ownerReferences": [naming.owner_reference(name=names.name, uid=uid)],
        },
        "spec": {
            "selector": {"matchLabels": naming.runtime_selector(names.name)},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }
