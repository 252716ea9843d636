"""The objects a ModelCache owns: its claim, the fetch Job of each model directory, the repair
Job of each corrupted model, and the arguments of the verify and clean-up Jobs (what is
kept, what was cancelled, the usage record); `job` builds any of these Jobs on the cache's
volume, and `token_env` passes a source's token by reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modeldeploy.hub import sharing
from modeldeploy.operator.api import cache as api
from modeldeploy.operator.api.spec import ModelSource
from modeldeploy.operator.planners import fetchjob, naming
from modeldeploy.operator.planners.cache.inputs import (
    ANNOTATION_MODEL_DIR,
    ANNOTATION_TASK,
    MAINTENANCE_TTL_SECONDS,
    TASK_FETCH,
    TASK_REPAIR,
    CacheInputs,
    Want,
    cache_labels,
    claim_capacity,
    claim_name,
    digest,
    latest,
    owner_reference,
)


def claim(inp: CacheInputs) -> dict[str, Any]:
    storage = inp.spec.storage
    spec: dict[str, Any] = {
        "accessModes": [storage.access_mode.value],
        "resources": {"requests": {"storage": str(storage.size)}},
    }
    chosen = storage.storage_class_name or inp.storage_class
    if chosen:
        spec["storageClassName"] = chosen
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim_name(inp.name),
            "namespace": inp.namespace,
            "labels": cache_labels(inp.name, component=naming.COMPONENT_CACHE),
            "ownerReferences": [owner_reference(name=inp.name, uid=inp.uid)],
        },
        "spec": spec,
    }


def fetch_job(inp: CacheInputs, want: Want, *, suspend: bool) -> dict[str, Any]:
    """The Job that fills `/cache/<directory>` once; its template never names a deployment,
    so every deployment that wants the directory finds the same Job."""
    model = want.model
    endpoint = inp.endpoint_for(model.endpoint)
    args = ["fetch", model.repo, "--dest", f"{fetchjob.CACHE_MOUNT}/{want.directory}"]
    args += ["--revision", want.commit, "--progress", "json"]
    if endpoint:
        args += ["--endpoint", endpoint]
    args += fetchjob.selection_args(model)
    env = token_env(model)
    fetch = job(
        inp,
        task=TASK_FETCH,
        suffix=digest(want.directory)[:10],
        args=args,
        env=env,
        annotations={ANNOTATION_MODEL_DIR: want.directory, naming.ANNOTATION_COMMIT: want.commit},
    )
    fetch["spec"]["suspend"] = suspend
    return fetch


def repair_jobs(
    inp: CacheInputs, models: Mapping[str, api.CachedModel], wants: Mapping[str, Want]
) -> list[dict[str, Any]]:
    """One Job per corrupted model: re-fetch only its bad files, with the token of whoever
    wants the model (anonymous when nobody does: a gated model then stays Corrupted)."""
    jobs = []
    repairing = {j.directory for j in inp.jobs if j.task == TASK_REPAIR and not j.finished}
    for directory, model in sorted(models.items()):
        if model.state != api.CachedModelState.CORRUPTED and directory not in repairing:
            continue
        want = wants.get(directory)
        args = ["verify", f"{fetchjob.CACHE_MOUNT}/{directory}", "--repair", "--progress", "json"]
        if want is not None and inp.endpoint_for(want.model.endpoint):
            args += ["--endpoint", inp.endpoint_for(want.model.endpoint)]
        env = token_env(want.model) if want is not None else []
        jobs.append(
            job(
                inp,
                task=TASK_REPAIR,
                suffix=f"{digest(directory)[:8]}-{digest(str(model.bad_files))[:4]}",
                args=args,
                env=env,
                annotations={ANNOTATION_MODEL_DIR: directory},
            )
        )
    return jobs


def token_env(model: ModelSource) -> list[dict[str, Any]]:
    """HF_TOKEN from the Secret of the source that asked (a reference, never the value)."""
    ref = model.token_secret_ref
    if ref is None:
        return []
    return [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}]


def maintenance_args(
    inp: CacheInputs, models: Mapping[str, api.CachedModel], wants: Mapping[str, Want]
) -> tuple[list[str], list[str]]:
    """`cache gc` arguments (policy, what is kept, the usage record) and `cache verify`'s."""
    policy = inp.spec.retention
    kept = sorted(keep(inp, models, wants))
    preload = sorted(
        f"{w.model.repo}@{w.commit}" for w in wants.values() if w.requester == "preload"
    )
    usage = json.dumps(_usage_record(inp, models), sort_keys=True, separators=(",", ":"))
    root = fetchjob.CACHE_MOUNT
    gc = ["cache", "gc", root, "--max-unused-for", policy.max_unused_for]
    gc += ["--high-watermark", str(policy.high_watermark)]
    capacity = claim_capacity(inp) or inp.previous.capacity_bytes
    if capacity:
        gc += ["--capacity", str(capacity)]  # watermarks are percents of the claim's capacity
    gc += ["--low-watermark", str(policy.low_watermark)]
    for item in kept:
        gc += ["--keep", item]
    for item in preload:
        gc += ["--preload", item]
    for name in sorted(cancelled(inp, models, wants)):
        gc += ["--cancelled", name]
    gc += ["--usage", usage, "--json"]
    # Repairs run as one Job per model, each with its own requester's token.
    verify = ["cache", "verify", root, "--usage", usage, "--json"]
    return gc, verify


def keep(
    inp: CacheInputs, models: Mapping[str, api.CachedModel], wants: Mapping[str, Want]
) -> set[str]:
    """REPO@COMMIT of everything in use, wanted by a deployment, or being fetched."""
    keep = {f"{w.model.repo}@{w.commit}" for w in wants.values() if w.requester != "preload"}
    for directory, users in inp.use.in_use.items():
        model = models.get(directory)
        parsed = sharing.parse_model_dir_name(directory)
        repo = model.repo if model and model.repo else (parsed[0] if parsed else None)
        commit = model.commit if model and model.commit else (parsed[1] if parsed else None)
        if users and repo and commit:
            keep.add(f"{repo}@{commit}")
    return keep


def cancelled(
    inp: CacheInputs, models: Mapping[str, api.CachedModel], wants: Mapping[str, Want]
) -> set[str]:
    """Incomplete directories that nobody wants or uses: downloads cancelled by their
    requester's going (a paused download is still wanted, so its partial files stay)."""
    return {
        name
        for name, model in models.items()
        if model.state == api.CachedModelState.INCOMPLETE
        and name not in wants
        and not inp.use.in_use.get(name)
    }


def _usage_record(inp: CacheInputs, models: Mapping[str, api.CachedModel]) -> dict[str, Any]:
    """Every model's use as the operator knows it, for the volume's usage file. `usedBy` is
    given for every model the operator knows (empty when nobody uses it): the operator is
    who knows, and a stale user on the volume would keep an old commit forever."""
    record: dict[str, Any] = {}
    for directory in sorted(set(models) | set(inp.use.in_use)):
        model = models.get(directory)
        record[directory] = {
            "requests": (model.requests if model else 0) + inp.use.requests.get(directory, 0),
            "lastUsed": latest(
                model.last_used if model else None, inp.use.last_used.get(directory)
            ),
            "usedBy": sorted(inp.use.in_use.get(directory, frozenset())),
        }
    return record


def job(
    inp: CacheInputs,
    *,
    task: str,
    suffix: str,
    args: list[str],
    env: list[dict[str, Any]],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    labels = cache_labels(inp.name, component=task)
    template = fetchjob.volume_job_template(
        container=task,
        image=inp.image,
        args=args,
        env=env,
        claim=claim_name(inp.name),
        labels=labels,
    )
    # A fetch Job's template differs when its arguments (image, token reference) do: a
    # Job's template is immutable, so a changed one is a new Job.
    config = fetchjob.template_digest(template)[:3] if task == TASK_FETCH else ""
    name = f"mc-{inp.name}-{task}-{suffix}{'-' + config if config else ''}"
    spec: dict[str, Any] = {"backoffLimit": fetchjob.FETCH_BACKOFF_LIMIT, "template": template}
    if task != TASK_FETCH:
        spec["backoffLimit"] = 0
        spec["ttlSecondsAfterFinished"] = MAINTENANCE_TTL_SECONDS
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": inp.namespace,
            "labels": labels,
            "annotations": {ANNOTATION_TASK: task, **(annotations or {})},
            "ownerReferences": [owner_reference(name=inp.name, uid=inp.uid)],
        },
        "spec": spec,
    }
