"""What the ModelCache's Jobs reported: the inventory after the newest volume report and
what the fetch and repair Jobs say now (a model's state, bytes and message), and the
Events that tell what each finished Job did, once per Job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modeldeploy.hub import sharing
from modeldeploy.operator.api import cache as api
from modeldeploy.operator.planners import conditions
from modeldeploy.operator.planners.cache.inputs import (
    TASK_FETCH,
    TASK_GC,
    TASK_REPAIR,
    TASK_VERIFY,
    CacheInputs,
    JobView,
    latest,
)


def models_after_reports(inp: CacheInputs) -> dict[str, api.CachedModel]:
    """The inventory: the last one written, replaced by a newer volume report, updated by
    what the fetch Jobs say now."""
    written = {m.name: m for m in inp.previous.models}
    models = dict(written)
    report = newest_report(inp)
    if report is not None:
        scanned = [_from_report(m) for m in report.get("inventory", {}).get("models", [])]
        models = {m.name: _with_use_written(m, written.get(m.name)) for m in scanned}
    fetching = {j.directory for j in inp.jobs if j.task == TASK_FETCH}
    for name, found in list(models.items()):
        if found.state == api.CachedModelState.FETCHING and name not in fetching:
            models[name] = found.model_copy(
                update={
                    "state": api.CachedModelState.INCOMPLETE,
                    "message": "its download stopped (the fetch Job is gone)",
                }
            )
    for job in inp.jobs:
        if not job.directory or (job.directory not in models and job.task != TASK_FETCH):
            continue
        model = models.get(job.directory)
        if job.task == TASK_FETCH:
            models[job.directory] = _from_fetch(job, model)
        elif job.task == TASK_REPAIR and model is not None:
            models[job.directory] = _from_repair(job, model)
    return models


def _from_repair(job: JobView, model: api.CachedModel) -> api.CachedModel:
    if job.succeeded:
        return model.model_copy(
            update={
                "state": api.CachedModelState.VERIFIED,
                "bad_files": [],
                "verified_at": job.completed_at or model.verified_at,
                "message": f"repaired by job {job.name}",
            }
        )
    if job.failed:
        line = job.last_line or {}
        why = line.get("message") or job.failure_message or "the repair Job failed"
        return model.model_copy(
            update={"state": api.CachedModelState.CORRUPTED, "message": f"repair failed: {why}"}
        )
    return model.model_copy(
        update={"state": api.CachedModelState.REPAIRING, "message": f"job {job.name} repairs it"}
    )


def _with_use_written(model: api.CachedModel, written: api.CachedModel | None) -> api.CachedModel:
    """The volume's usage file holds the use as of the Job's start; the status may hold
    more since (requests only grow, the last use only moves forward)."""
    if written is None:
        return model
    return model.model_copy(
        update={
            "requests": max(model.requests, written.requests),
            "last_used": latest(model.last_used, written.last_used),
        }
    )


def newest_report(inp: CacheInputs) -> Mapping[str, Any] | None:
    """The newest report of the volume that is newer than the inventory already written (a
    finished Job can be seen again before its deletion reaches the index)."""
    reports = [
        (str(doc.get("scannedAt") or ""), j.last_line)
        for j in inp.jobs
        if j.task in (TASK_VERIFY, TASK_GC) and j.finished and j.last_line is not None
        for doc in [j.last_line.get("inventory")]
        if isinstance(doc, Mapping)
    ]
    fresh = [r for r in reports if r[0] > (inp.previous.inventory_at or "")]
    return max(fresh, key=lambda r: r[0])[1] if fresh else None


def _from_report(doc: Mapping[str, Any]) -> api.CachedModel:
    state = str(doc.get("state") or "Incomplete")
    return api.CachedModel(
        name=str(doc["name"]),
        repo=doc.get("repo"),
        revision=doc.get("revision"),
        commit=doc.get("commit"),
        bytes=int(doc.get("bytes") or 0),
        files=int(doc.get("files") or 0),
        state=api.CachedModelState(state)
        if state in api.CachedModelState.__members__.values()
        else api.CachedModelState.INCOMPLETE,
        verified_at=doc.get("verifiedAt"),
        last_used=doc.get("lastUsed"),
        requests=int(doc.get("requests") or 0),
        used_by=[str(u) for u in doc.get("usedBy") or []],
        bad_files=[str(b) for b in doc.get("badFiles") or []],
    )


def _from_fetch(job: JobView, model: api.CachedModel | None) -> api.CachedModel:
    line = job.last_line or {}
    repo, commit = None, job.commit
    parsed = sharing.parse_model_dir_name(job.directory or "")
    if parsed:
        repo = parsed[0]
    base = model or api.CachedModel(name=job.directory or "?", repo=repo, commit=commit)
    if job.succeeded:
        if model is not None and model.state == api.CachedModelState.VERIFIED:
            return model
        return base.model_copy(
            update={
                "state": api.CachedModelState.VERIFIED,
                "bytes": int(line.get("bytesTotal") or base.bytes or 0),
                "files": int(line.get("filesTotal") or base.files or 0),
                "verified_at": job.completed_at or base.verified_at,
                "message": None,
            }
        )
    if job.failed:
        reason = str(line.get("reason") or "FetchFailed")
        if reason == "InsufficientDisk":
            reason = "InsufficientCacheSpace"
        message = str(line.get("message") or job.failure_message or "the fetch Job failed")
        return base.model_copy(
            update={"state": api.CachedModelState.INCOMPLETE, "message": f"{reason}: {message}"}
        )
    paused = " (paused)" if job.suspended or not job.active else ""
    return base.model_copy(
        update={
            "state": api.CachedModelState.FETCHING,
            "bytes_done": int(line.get("bytesDone") or 0),
            "bytes_total": int(line.get("bytesTotal") or 0),
            "message": f"job {job.name} is fetching{paused}",
        }
    )


def report_events(inp: CacheInputs) -> list[conditions.EventNote]:
    """Events for what finished Jobs did, once per Job (`inp.reported`: Jobs told already)."""
    notes: list[conditions.EventNote] = []
    for job in inp.jobs:
        if job.name in inp.reported or not job.finished:
            continue
        line = job.last_line or {}
        if job.task == TASK_REPAIR and job.succeeded:
            notes.append(
                conditions.EventNote(
                    "Normal",
                    "ModelRepaired",
                    f"{job.directory}: bad files re-fetched by {job.name}",
                )
            )
        if job.task == TASK_GC and job.finished:
            for removed in line.get("removed") or []:
                notes.append(
                    conditions.EventNote(
                        "Normal",
                        "ModelEvicted",
                        f"removed {removed.get('name')} ({removed.get('bytes', 0)} bytes): "
                        f"{removed.get('why')}",
                    )
                )
        if job.task == TASK_VERIFY and job.finished:
            for result in line.get("verify") or []:
                if result.get("repaired"):
                    notes.append(
                        conditions.EventNote(
                            "Normal",
                            "ModelRepaired",
                            f"{result.get('name')}: re-fetched {', '.join(result['repaired'])}",
                        )
                    )
                if result.get("bad") and not result.get("repaired"):
                    notes.append(
                        conditions.EventNote(
                            "Warning",
                            "ModelCorrupted",
                            f"{result.get('name')}: {'; '.join(result['bad'])}",
                        )
                    )
        if job.task == TASK_FETCH and job.failed:
            notes.append(
                conditions.EventNote(
                    "Warning", "FetchFailed", f"{job.name}: {job.failure_message or ''}"
                )
            )
    return notes
