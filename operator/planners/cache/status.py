"""What the ModelCache's status says: each model with its users, requests and last use, the
volume's capacity and use, the schedule, the Ready and Degraded conditions (and why), the
one-line summary of the MESSAGE column, and when the models were last verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modeldeploy.operator.api import cache as api
from modeldeploy.operator.api.status import ConditionType as C
from modeldeploy.operator.planners import conditions, memory
from modeldeploy.operator.planners.cache import reports
from modeldeploy.operator.planners.cache.inputs import (
    TASK_GC,
    TASK_VERIFY,
    CacheInputs,
    claim_capacity,
    claim_name,
    latest,
    ts,
)
from modeldeploy.operator.planners.cache.maintenance import Schedule


def status(
    inp: CacheInputs,
    models: dict[str, api.CachedModel],
    last_verified: str | None,
    schedule: Schedule,
    pending: list[api.PendingFetch],
) -> api.ModelCacheStatus:
    requesters: dict[str, set[str]] = {}
    for want in inp.wants:
        if want.requester != "preload":
            requesters.setdefault(want.directory, set()).add(want.requester.split("/", 1)[-1])
    for directory, model in list(models.items()):
        users = set(inp.use.in_use.get(directory, frozenset()))
        requested = requesters.get(directory, set())
        models[directory] = model.model_copy(
            update={
                "used_by": sorted(users | requested),
                "requests": model.requests + inp.use.requests.get(directory, 0),
                "last_used": latest(model.last_used, inp.use.last_used.get(directory)),
            }
        )
    ordered = sorted(models.values(), key=lambda m: m.name)
    capacity = claim_capacity(inp) or inp.previous.capacity_bytes
    used = sum(m.bytes for m in ordered)
    report = reports.newest_report(inp)
    inventory_at = (
        (report.get("inventory") or {}).get("scannedAt") if report else None
    ) or inp.previous.inventory_at
    verdicts = _verdicts(inp, ordered, pending)
    cleaned = [j.started_at for j in inp.jobs if j.task == TASK_GC and j.started_at]
    merged = conditions.merge(
        inp.previous.conditions, verdicts, generation=inp.generation, now=ts(inp.now)
    )
    return api.ModelCacheStatus(
        observed_generation=inp.generation,
        message=_summary(ordered, merged),
        capacity_bytes=capacity,
        used_bytes=used,
        used_percent=round(100 * used / capacity) if capacity else None,
        used=memory.human(used) + (f" ({round(100 * used / capacity)}%)" if capacity else ""),
        capacity=memory.human(capacity) if capacity else None,
        model_count=len(ordered),
        last_verified=last_verified,
        inventory_at=inventory_at,
        next_verify_at=schedule.next_verify_at,
        next_inventory_at=schedule.next_inventory_at,
        last_cleanup_at=max([*cleaned, inp.previous.last_cleanup_at or ""]) or None,
        models=ordered,
        pending=pending,
        conditions=merged,
    )


def _summary(models: Sequence[api.CachedModel], merged: Sequence[Any]) -> str:
    """One line: the models by state, then what is wrong (the MESSAGE column)."""
    counts: dict[str, int] = {}
    for model in models:
        counts[model.state.value] = counts.get(model.state.value, 0) + 1
    held = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no models"
    wrong = [c for c in merged if c.status == ("True" if c.type == "Degraded" else "False")]
    return (held + "".join(f"; {c.reason}: {c.message}" for c in wrong))[:1000]


def _verdicts(
    inp: CacheInputs, models: Sequence[api.CachedModel], pending: Sequence[api.PendingFetch]
) -> list[conditions.Verdict]:
    phase = (inp.claim or {}).get("status", {}).get("phase")
    corrupted = [m for m in models if m.state == api.CachedModelState.CORRUPTED]
    wanted = {w.directory for w in inp.wants}
    failed = [
        m
        for m in models
        if m.state == api.CachedModelState.INCOMPLETE and m.message and m.name in wanted
    ]  # an Incomplete directory nobody wants is a cancelled download, not a failure
    if corrupted:
        detail = "; ".join(f"{m.name}: {', '.join(m.bad_files) or 'bad files'}" for m in corrupted)
        degraded = conditions.true(C.DEGRADED, "ModelCorrupted", detail)
    elif pending:
        detail = "; ".join(p.message for p in pending)
        degraded = conditions.true(C.DEGRADED, pending[0].reason, detail)
    elif failed:
        detail = "; ".join(f"{m.name}: {m.message}" for m in failed)
        degraded = conditions.true(C.DEGRADED, "FetchFailed", detail)
    elif inp.preload_errors:
        degraded = conditions.true(C.DEGRADED, "PreloadUnresolved", "; ".join(inp.preload_errors))
    else:
        degraded = conditions.false(C.DEGRADED, "AsExpected", "every model is as expected")
    if inp.spec.suspend:
        ready = conditions.false(C.READY, "Suspended", "preloads and maintenance are paused")
    elif phase == "Lost":
        ready = conditions.false(
            C.READY,
            "VolumeLost",
            f"claim {claim_name(inp.name)} lost its volume: the cache's Jobs cannot start "
            "until it is bound again",
        )
    elif phase != "Bound":
        ready = conditions.false(
            C.READY, "VolumeNotBound", f"claim {claim_name(inp.name)} is not bound yet"
        )
    else:
        held = sum(1 for m in models if m.state == api.CachedModelState.VERIFIED)
        ready = conditions.true(C.READY, "VolumeBound", f"{held} verified model(s) held")
    return [ready, degraded]


def last_verified(inp: CacheInputs) -> str | None:
    done = [
        j.completed_at or j.started_at
        for j in inp.jobs
        if j.task == TASK_VERIFY and j.finished and j.last_line is not None
    ]
    times = [t for t in [*done, inp.previous.last_verified] if t]
    return max(times) if times else None
