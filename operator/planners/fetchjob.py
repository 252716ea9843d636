"""The shared cache: a PersistentVolumeClaim and one fetch Job per commit.

Why one Job per commit: when a branch moves, the new commit is fetched into
`/cache/<new commit>` by its own Job while the replicas keep serving `/cache/<old commit>`;
the Deployment switches only after that Job succeeded (the fetch verifies every byte
before it writes the manifest, so success means verified).

The token reaches the Job as `HF_TOKEN` from the Secret (`secretKeyRef`): it is never in
the arguments, the object, the status or a log line.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modeldeploy.operator.api.spec import CacheRetention, ModelDeploymentSpec, ModelSource
from modeldeploy.operator.planners import naming

CACHE_MOUNT = "/cache"
CACHE_VOLUME = "cache"
FETCH_BACKOFF_LIMIT = 3
RUN_AS_GROUP_FS = 1000
SCRATCH = "/tmp"  # noqa: S108 - an emptyDir of the pod itself (read-only root filesystem)


def cache_dir(commit: str) -> str:
    """Where a commit's files live on the cache volume (one directory per commit)."""
    return f"{CACHE_MOUNT}/{commit}"


def cache_claim(
    spec: ModelDeploymentSpec, *, names: naming.Names, uid: str, storage_class: str | None
) -> dict[str, Any]:
    """The cache PVC. Owned by the ModelDeployment only with `retention: Delete`.

    With Retain (the default) it has no owner reference, so garbage collection leaves it
    (and the downloaded weights) behind when the ModelDeployment is deleted.
    """
    assert spec.cache is not None
    metadata: dict[str, Any] = {
        "name": names.cache_claim,
        "namespace": names.namespace,
        "labels": naming.child_labels(names.name, component=naming.COMPONENT_CACHE),
        "annotations": {"modeldeploy.io/retention": spec.cache.retention.value},
    }
    if spec.cache.retention is CacheRetention.DELETE:
        metadata["ownerReferences"] = [naming.owner_reference(name=names.name, uid=uid)]
    claim_spec: dict[str, Any] = {
        "accessModes": [spec.cache.access_mode.value],
        "resources": {"requests": {"storage": str(spec.cache.size)}},
    }
    chosen_class = spec.cache.storage_class_name or storage_class
    if chosen_class:
        claim_spec["storageClassName"] = chosen_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": claim_spec,
    }


def fetch_args(spec: ModelDeploymentSpec, *, commit: str | None, endpoint: str | None) -> list[str]:
    """`modeldeploy fetch` arguments for one commit (no secret ever appears here).

    `commit` None happens only in `render` (no network): the revision is used as given.
    """
    model = spec.model
    revision = commit or model.revision
    args = [
        "fetch",
        model.repo,
        "--dest",
        cache_dir(revision),
        "--revision",
        revision,
        "--progress",
        "json",
    ]
    if endpoint:
        args += ["--endpoint", endpoint]
    return args + selection_args(model)


def selection_args(model: ModelSource) -> list[str]:
    """The file selection and pins, as both `fetch` and `serve --repo` take them."""
    args: list[str] = []
    for pattern in model.include:
        args += ["--include", pattern]
    if model.allow_pickle:
        args.append("--allow-pickle")
    for path, digest in sorted(model.sha256.items()):
        args += ["--sha256", f"{path}={digest}"]
    return args


def token_env(spec: ModelDeploymentSpec) -> list[dict[str, Any]]:
    """HF_TOKEN from the referenced Secret (a reference: the value never leaves the Secret)."""
    ref = spec.model.token_secret_ref
    if ref is None:
        return []
    return [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}]


def restricted_container_security() -> dict[str, Any]:
    """Pod Security 'restricted' container settings."""
    return {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def fetch_job(
    spec: ModelDeploymentSpec,
    *,
    names: naming.Names,
    uid: str,
    commit: str | None,
    image: str,
    endpoint: str | None,
) -> dict[str, Any]:
    """The Job that fills `/cache/<commit>` once (idempotent, resumable, verified)."""
    labels = naming.child_labels(names.name, component=naming.COMPONENT_FETCH, commit=commit)
    container = {
        "name": "fetch",
        "image": image,
        "command": ["modeldeploy"],
        "args": fetch_args(spec, commit=commit, endpoint=endpoint),
        "env": [*token_env(spec), {"name": "HOME", "value": SCRATCH}],
        "volumeMounts": [
            {"name": CACHE_VOLUME, "mountPath": CACHE_MOUNT},
            {"name": "tmp", "mountPath": SCRATCH},
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {**restricted_container_security(), "readOnlyRootFilesystem": True},
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "securityContext": {"fsGroup": RUN_AS_GROUP_FS, "runAsNonRoot": True},
        "volumes": [
            {"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": names.cache_claim}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    template = {"metadata": {"labels": dict(labels)}, "spec": pod_spec}
    revision = commit or naming.UNRESOLVED_REVISION
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": names.fetch_job(revision, template_digest(template)),
            "namespace": names.namespace,
            "labels": labels,
            "annotations": {naming.ANNOTATION_COMMIT: commit or naming.UNRESOLVED_REVISION},
            "ownerReferences": [naming.owner_reference(name=names.name, uid=uid)],
        },
        "spec": {
            "backoffLimit": FETCH_BACKOFF_LIMIT,
            "template": template,
        },
    }


def template_digest(template: dict[str, Any]) -> str:
    """A short digest of a pod template: what makes a Job's (immutable) template differ."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
