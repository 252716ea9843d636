"""When the ModelCache's maintenance is due: the `Schedule` of the next full re-hash and the
next look at the volume, the one verify or clean-up Job due now, and the operator's own
prediction of what the retention policy would remove (a clean-up runs early only when it
would remove something, at most once a minute, and never while anyone's use is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from modeldeploy.hub import durations, retention
from modeldeploy.hub.inventory import Inventory, InventoryModel, State
from modeldeploy.operator.api import cache as api
from modeldeploy.operator.planners import fetchjob
from modeldeploy.operator.planners.cache import jobs
from modeldeploy.operator.planners.cache.inputs import (
    MIN_CLEANUP_SECONDS,
    TASK_GC,
    TASK_VERIFY,
    CacheInputs,
    Want,
    claim_capacity,
    merged_wants,
    parse_time,
    slot,
    ts,
)


@dataclass(frozen=True)
class Schedule:
    """When the next full re-hash and the next look at the volume are due (kept in status,
    so a restarted operator neither repeats nor forgets them)."""

    next_verify_at: str
    next_inventory_at: str | None


def due_maintenance(
    inp: CacheInputs,
    models: Mapping[str, api.CachedModel],
    wants: Mapping[str, Want],
    schedule: Schedule,
) -> tuple[dict[str, Any] | None, Schedule]:
    """The one maintenance Job due now (verify first), or None; and the schedule after it."""
    gc_args, verify_args = jobs.maintenance_args(inp, models, wants)
    has_models = any(m.state != api.CachedModelState.FETCHING for m in models.values())
    if has_models and inp.now >= parse_time(schedule.next_verify_at):
        job = jobs.job(inp, task=TASK_VERIFY, suffix=slot(inp.now), args=verify_args, env=[])
        after = ts(inp.now + every(inp.spec.verify.every))
        return job, Schedule(after, schedule.next_inventory_at)
    if not inp.use.complete:
        return None, schedule  # someone's use is not known yet: removing anything could hit it
    due = schedule.next_inventory_at is None or inp.now >= parse_time(schedule.next_inventory_at)
    if due or (_evictions(inp, models, wants) and _cleanup_allowed(inp)):
        job = jobs.job(inp, task=TASK_GC, suffix=slot(inp.now), args=gc_args, env=[])
        after = ts(inp.now + timedelta(seconds=inp.inventory_seconds))
        return job, Schedule(schedule.next_verify_at, after)
    return None, schedule


def _cleanup_allowed(inp: CacheInputs) -> bool:
    """At most one clean-up a minute: one whose report did not remove what the operator
    expected (it could not see the volume's use) must not be repeated in a tight loop."""
    last = inp.previous.last_cleanup_at
    return last is None or (inp.now - parse_time(last)).total_seconds() >= MIN_CLEANUP_SECONDS


def every(duration: str) -> timedelta:
    return timedelta(seconds=durations.parse_seconds(duration))


def _evictions(
    inp: CacheInputs, models: Mapping[str, api.CachedModel], wants: Mapping[str, Want]
) -> list[retention.Eviction]:
    """What the retention policy would remove, judged on the operator's own inventory."""
    policy = retention.Policy(
        max_unused_for=durations.parse_seconds(inp.spec.retention.max_unused_for),
        high_watermark=inp.spec.retention.high_watermark,
        low_watermark=inp.spec.retention.low_watermark,
    )
    keep = {_split_key(k) for k in jobs.keep(inp, models, wants)}
    preload = {(w.model.repo, w.commit) for w in wants.values() if w.requester == "preload"}
    return retention.plan_gc(
        _inventory_of(inp, models),
        policy,
        keep=keep,
        preload=preload,
        now=inp.now,
        cancelled=jobs.cancelled(inp, models, wants),
    )


def _split_key(key: str) -> tuple[str, str]:
    repo, _, commit = key.rpartition("@")
    return repo, commit


def evicting(inp: CacheInputs, models: Mapping[str, api.CachedModel]) -> list[str]:
    """Directories a running clean-up Job may be removing (the operator's prediction)."""
    if not any(j.task == TASK_GC and j.active for j in inp.jobs):
        return []
    return [e.name for e in _evictions(inp, models, merged_wants(inp.wants))]


def _inventory_of(inp: CacheInputs, models: Mapping[str, api.CachedModel]) -> Inventory:
    return Inventory(
        root=fetchjob.CACHE_MOUNT,
        capacity_bytes=inp.previous.capacity_bytes or claim_capacity(inp) or 0,
        scanned_at=ts(inp.now),
        models=tuple(
            InventoryModel(
                name=m.name,
                repo=m.repo,
                revision=m.revision,
                commit=m.commit,
                bytes=m.bytes,
                files=m.files,
                state=State.VERIFIED
                if m.state == api.CachedModelState.EVICTING
                else State(m.state.value),
                verified_at=m.verified_at,
                last_used=inp.use.last_used.get(m.name) or m.last_used,
                requests=m.requests,
                used_by=tuple(sorted(inp.use.in_use.get(m.name, frozenset()))),
                bad_files=tuple(m.bad_files),
            )
            for m in models.values()
        ),
    )
