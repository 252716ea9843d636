"""What to remove from a cache root, and why: pure decisions over an inventory.

Never removed: a model in `keep` (REPO@COMMIT that someone serves or wants), one whose usage
record names a user (`usedBy`, `inUse`), one being fetched or repaired. Of the rest, in this
order, each with its reason:

0. a cancelled download: a directory named in `cancelled` that is still Incomplete (its
   requester went while it was being fetched; the operator names these);
1. an old commit: a model whose repo, with the same file selection, has a kept or preloaded
   commit that is Verified on this root, and which is not itself kept or preloaded (the new
   commit must be there before the old one goes; a selection no directory records matches
   any, as on a deployment's own volume fetched before directories recorded it);
2. unused for longer than `max_unused_for` (last use from the usage file, else the
   manifest's verifiedAt, else the newest modification on disk); preloads are exempt;
3. an abandoned partial fetch: Incomplete, untouched for longer than `max_unused_for`;
4. while the bytes held exceed `high_watermark` percent of the capacity: the least recently
   used of the others (preloads included), until they are at most `low_watermark` percent.

The operator plans with the same function on its own view of the volume (to know when a
clean-up is due); `cache gc` plans on the scanned inventory and then acts (`eviction`).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modeldeploy.hub import durations, records
from modeldeploy.hub.inventory import Inventory, InventoryModel, State

ModelKey = tuple[str, str]
"""(repo, commit)"""

_BUSY = (State.FETCHING, State.REPAIRING)
_EPOCH = datetime.fromtimestamp(0, tz=UTC)


@dataclass(frozen=True)
class Policy:
    max_unused_for: float
    """Seconds (`durations.parse_seconds`)."""
    high_watermark: int | None = 90
    """Percent of the capacity; None: no watermark rule."""
    low_watermark: int = 75

    def __post_init__(self) -> None:
        if self.max_unused_for < 0:
            raise ValueError("max unused for must not be negative")
        if self.high_watermark is None:
            return
        if not 0 < self.high_watermark <= 100:
            raise ValueError(f"high watermark {self.high_watermark} is not within 1..100")
        if not 0 <= self.low_watermark < self.high_watermark:
            raise ValueError(
                f"low watermark {self.low_watermark} must be at least 0 and below the high "
                f"watermark {self.high_watermark}"
            )


@dataclass(frozen=True)
class Eviction:
    name: str
    repo: str | None
    commit: str | None
    bytes: int
    why: str
    state: State | None = None
    """The state it was planned in (not in the JSON): an eviction re-checks it on disk."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repo": self.repo,
            "commit": self.commit,
            "bytes": self.bytes,
            "why": self.why,
        }


def plan_gc(
    inventory: Inventory,
    policy: Policy,
    *,
    keep: Set[ModelKey],
    preload: Set[ModelKey],
    now: datetime,
    cancelled: Set[str] = frozenset(),
) -> list[Eviction]:
    """The models to remove, in the order they go; see the module doc. `cancelled`: names
    of directories whose download was cancelled (their partial files go now)."""
    free = [m for m in _by_last_use(inventory.models) if not _protected(m, keep)]
    planned: list[Eviction] = []
    for model in free:
        why = (
            _cancelled(model, cancelled)
            or _old_commit(model, inventory, keep | preload)
            or _unused(model, policy, preload=preload, now=now)
            or _abandoned(model, policy, now=now)
        )
        if why is not None:
            planned.append(_eviction(model, why))
    chosen = {e.name for e in planned}
    planned += _over_watermark(
        [m for m in free if m.name not in chosen],
        inventory,
        policy,
        held=inventory.used_bytes - sum(e.bytes for e in planned),
    )
    return planned


def last_use(model: InventoryModel) -> tuple[datetime | None, str]:
    """When the model was last used, and what says so."""
    for moment, source in (
        (model.last_used, "last used"),
        (model.verified_at, "verified"),
        (model.modified_at, "last modified"),
    ):
        if moment:
            return records.parse_iso(moment), source
    return None, "never used"


def _protected(model: InventoryModel, keep: Set[ModelKey]) -> bool:
    if model.state in _BUSY or model.used_by:
        return True
    if model.repo is None:  # a directory that records nothing: its commit alone decides
        return any(commit == model.commit for _, commit in keep)
    return (model.repo, model.commit or "") in keep


def _old_commit(model: InventoryModel, inventory: Inventory, wanted: Set[ModelKey]) -> str | None:
    if model.repo is None or (model.repo, model.commit or "") in wanted:
        return None
    for other in inventory.models:
        if (
            other.repo == model.repo
            and other.commit != model.commit
            and (other.repo, other.commit or "") in wanted
            and other.state is State.VERIFIED
            and _same_selection(model, other)
        ):
            return f"old commit: {model.repo} now at {(other.commit or '')[:12]}"
    return None


def _same_selection(a: InventoryModel, b: InventoryModel) -> bool:
    return a.digest is None or b.digest is None or a.digest == b.digest


def _unused(
    model: InventoryModel, policy: Policy, *, preload: Set[ModelKey], now: datetime
) -> str | None:
    if model.state is State.INCOMPLETE or (model.repo or "", model.commit or "") in preload:
        return None
    moment, source = last_use(model)
    if moment is None or (now - moment).total_seconds() <= policy.max_unused_for:
        return None
    return (
        f"unused for {durations.describe((now - moment).total_seconds())}, longer than "
        f"{durations.describe(policy.max_unused_for)} ({source} {records.iso(moment)})"
    )


def _cancelled(model: InventoryModel, cancelled: Set[str]) -> str | None:
    if model.name not in cancelled or model.state is not State.INCOMPLETE:
        return None
    return "cancelled download: its partial files are removed"


def _abandoned(model: InventoryModel, policy: Policy, *, now: datetime) -> str | None:
    if model.state is not State.INCOMPLETE:
        return None
    moment, _ = last_use(model)
    if moment is None or (now - moment).total_seconds() <= policy.max_unused_for:
        return None
    age = durations.describe((now - moment).total_seconds())
    return f"abandoned partial fetch: untouched for {age} (since {records.iso(moment)})"


def _over_watermark(
    candidates: list[InventoryModel], inventory: Inventory, policy: Policy, *, held: int
) -> list[Eviction]:
    capacity, high = inventory.capacity_bytes, policy.high_watermark
    if high is None or capacity <= 0 or held * 100 <= capacity * high:
        return []
    planned = []
    for model in candidates:
        if held * 100 <= capacity * policy.low_watermark:
            break
        moment, source = last_use(model)
        when = f"{source} {records.iso(moment)}" if moment is not None else source
        planned.append(
            _eviction(
                model,
                f"cache {held * 100 / capacity:.0f}% full, above the high watermark of "
                f"{high}% (down to {policy.low_watermark}%): least recently used ({when})",
            )
        )
        held -= model.bytes
    return planned


def _by_last_use(models: tuple[InventoryModel, ...]) -> list[InventoryModel]:
    return sorted(models, key=lambda m: (last_use(m)[0] or _EPOCH, m.name))


def _eviction(model: InventoryModel, why: str) -> Eviction:
    return Eviction(
        name=model.name,
        repo=model.repo,
        commit=model.commit,
        bytes=model.bytes,
        why=why,
        state=model.state,
    )
