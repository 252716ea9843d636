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
    """The inline cache PVC. Owned by the ModelDeployment only with `retention: Delete`.

    With Retain (the default) it has no owner reference, so garbage collection leaves it
    (and the downloaded weights) behind when the ModelDeployment is deleted.
    """
    cache = spec.cache
    assert cache is not None and cache.inline and cache.size is not None
    retention = cache.effective_retention
    metadata: dict[str, Any] = {
        "name": names.cache_claim,
        "namespace": names.namespace,
        "labels": naming.child_labels(names.name, component=naming.COMPONENT_CACHE),
        "annotations": {"modeldeploy.io/retention": retention.value},
    }
    if retention is CacheRetention.DELETE:
        metadata["ownerReferences"] = [naming.owner_reference(name=names.name, uid=uid)]
    claim_spec: dict[str, Any] = {
        "accessModes": [cache.effective_access_mode.value],
        "resources": {"requests": {"storage": str(cache.size)}},
    }
    chosen_class = cache.storage_class_name or storage_class
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
    template = volume_job_template(
        container="fetch",
        image=image,
        args=fetch_args(spec, commit=commit, endpoint=endpoint),
        env=token_env(spec),
        claim=names.cache_claim,
        labels=labels,
    )
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
            # Suspending the ModelDeployment pauses its download: the Job's pod goes, the
            # partial files stay on the volume, and resuming continues from them.
            "suspend": spec.suspend,
            "template": template,
        },
    }


CLEANUP_UNUSED_FOR = "87600h"
"""The inline volume's clean-up removes old commits (and cancelled downloads) only: nothing
is "unused for too long" on a volume that holds one deployment's commits."""


def cleanup_job(
    spec: ModelDeploymentSpec, *, names: naming.Names, uid: str, commit: str, image: str
) -> dict[str, Any]:
    """Once every replica serves `commit`, remove the older commits from the inline volume
    (`modeldeploy cache gc`: an old commit goes only when `commit` is Verified there)."""
    labels = naming.child_labels(names.name, component=naming.COMPONENT_CLEANUP, commit=commit)
    args = ["cache", "gc", CACHE_MOUNT, "--max-unused-for", CLEANUP_UNUSED_FOR]
    args += ["--keep", f"{spec.model.repo}@{commit}", "--json"]
    template = volume_job_template(
        container="cleanup",
        image=image,
        args=args,
        env=[],
        claim=names.cache_claim,
        labels=labels,
        requests={"cpu": "100m", "memory": "256Mi"},
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": names.cleanup_job(commit),
            "namespace": names.namespace,
            "labels": labels,
            "ownerReferences": [naming.owner_reference(name=names.name, uid=uid)],
        },
        "spec": {
            "backoffLimit": 1,
            "template": template,
        },
    }


def volume_job_template(
    *,
    container: str,
    image: str,
    args: list[str],
    env: list[dict[str, Any]],
    claim: str,
    labels: dict[str, str],
    requests: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The pod template of a Job that works on a cache volume (fetch, verify, repair, clean
    up): `modeldeploy ARGS` with the claim at /cache, a scratch emptyDir, Pod Security
    'restricted', a read-only root file system."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": container,
                "image": image,
                "command": ["modeldeploy"],
                "args": args,
                "env": [*env, {"name": "HOME", "value": SCRATCH}],
                "volumeMounts": [
                    {"name": CACHE_VOLUME, "mountPath": CACHE_MOUNT},
                    {"name": "tmp", "mountPath": SCRATCH},
                ],
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {
                    **restricted_container_security(),
                    "readOnlyRootFilesystem": True,
                },
                "resources": {"requests": requests or {"cpu": "250m", "memory": "512Mi"}},
            }
        ],
        "securityContext": {"fsGroup": RUN_AS_GROUP_FS, "runAsNonRoot": True},
        "volumes": [
            {"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": claim}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def template_digest(template: dict[str, Any]) -> str:
    """A short digest of a pod template: what makes a Job's (immutable) template differ."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
