"""One plan of a ModelCache: the claim, the fetch Jobs of the directories wanted and not
held (suspended while everyone who wants them is), the downloads that cannot fit, the
repair and maintenance Jobs due, the Jobs whose outcome is written and can go, and the
new status with the Events to post.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modeldeploy.operator.api import cache as api
from modeldeploy.operator.planners import conditions
from modeldeploy.operator.planners.cache import jobs, maintenance, reports
from modeldeploy.operator.planners.cache import status as status_planner
from modeldeploy.operator.planners.cache.inputs import (
    TASK_FETCH,
    TASK_GC,
    TASK_REPAIR,
    TASK_VERIFY,
    CacheInputs,
    CachePlan,
    Want,
    claim_capacity,
    merged_wants,
    parse_time,
    ts,
)


def plan(inp: CacheInputs) -> CachePlan:
    """The claim, the Jobs that should exist, the Jobs to delete, and the new status."""
    models = reports.models_after_reports(inp)
    events = reports.report_events(inp)
    wants = merged_wants(inp.wants)
    objects: list[dict[str, Any]] = [jobs.claim(inp)]
    to_fetch = {
        directory: want
        for directory, want in wants.items()
        if directory not in models or models[directory].state in _TO_FETCH
    }  # a model held, being repaired or being removed is not fetched
    pending = _too_big(inp, models, to_fetch)
    objects += [
        jobs.fetch_job(inp, want, suspend=inp.spec.suspend or want.suspended)
        for directory, want in to_fetch.items()
        if directory not in {p.name for p in pending}
    ]
    gc_running = any(j.task == TASK_GC and not j.finished for j in inp.jobs)
    if inp.spec.verify.repair and not inp.spec.suspend and not gc_running:
        objects += jobs.repair_jobs(inp, models, wants)
    maintenance_running = any(j.task in (TASK_VERIFY, TASK_GC) and not j.finished for j in inp.jobs)
    schedule = maintenance.Schedule(
        next_verify_at=inp.previous.next_verify_at
        or ts(parse_time(inp.created) + maintenance.every(inp.spec.verify.every)),
        next_inventory_at=inp.previous.next_inventory_at,
    )
    if not inp.spec.suspend and not maintenance_running:
        due, schedule = maintenance.due_maintenance(inp, models, wants, schedule)
        if due is not None:
            objects.append(due)
    for directory in maintenance.evicting(inp, models):
        if directory in models:
            models[directory] = models[directory].model_copy(
                update={"state": api.CachedModelState.EVICTING}
            )
    status = status_planner.status(
        inp, models, status_planner.last_verified(inp), schedule, pending
    )
    events += conditions.events(inp.previous.conditions, status.conditions)
    return CachePlan(objects, _jobs_to_delete(inp, wants), status, events)


def _too_big(
    inp: CacheInputs, models: Mapping[str, api.CachedModel], to_fetch: Mapping[str, Want]
) -> list[api.PendingFetch]:
    """Downloads that cannot fit, judged before they start (sizes known, capacity known),
    in directory order: each one that fits takes its space from the next ones' free bytes."""
    capacity = claim_capacity(inp) or inp.previous.capacity_bytes
    if not capacity:
        return []
    free = capacity - sum(m.bytes for m in models.values())
    pending = []
    for directory, want in sorted(to_fetch.items()):
        have = models[directory].bytes if directory in models else 0
        if want.bytes_needed is None or directory in {j.directory for j in inp.jobs}:
            continue  # unknown size, or already started: the fetch checks the disk itself
        need = max(want.bytes_needed - have, 0)
        if need <= free:
            free -= need
            continue
        pending.append(
            api.PendingFetch(
                name=directory,
                repo=want.model.repo,
                commit=want.commit,
                bytes_needed=want.bytes_needed,
                reason="InsufficientCacheSpace",
                message=f"{want.model.repo}@{want.commit[:12]} needs at least {need} more "
                f"bytes; {max(free, 0)} of {capacity} are free on ModelCache {inp.name}",
            )
        )
    return pending


def _jobs_to_delete(inp: CacheInputs, wants: Mapping[str, Want]) -> list[str]:
    """Jobs whose outcome is in the status already written (or that nobody wants)."""
    written = {m.name: m.state for m in inp.previous.models}
    delete = []
    for job in inp.jobs:
        directory = job.directory or ""
        if job.task == TASK_FETCH:
            gone = directory not in wants  # nobody wants it any more: done, or cancelled
            done = job.succeeded and written.get(directory) == api.CachedModelState.VERIFIED
            if gone or done:
                delete.append(job.name)
        elif job.task in (TASK_VERIFY, TASK_GC) and job.finished:
            delete.append(job.name)  # its report is read now, and written with this status
        elif (
            job.task == TASK_REPAIR
            and job.succeeded
            and written.get(directory) != api.CachedModelState.REPAIRING
        ):
            delete.append(job.name)  # a failed repair stays until its TTL: no retry loop
    return sorted(set(delete))


_TO_FETCH = (api.CachedModelState.FETCHING, api.CachedModelState.INCOMPLETE)
"""An Incomplete directory is fetched by the same Job name: a new Job resumes its partial
files; a failed one stays (its status tells why) until nobody wants the directory."""
