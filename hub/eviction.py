"""Remove planned model directories from a cache root, atomically and never one in use.

For each planned eviction:

1. take the model directory's lock without waiting (held: a fetch or repair is working on
   it, so it stays);
2. take the root lock and re-read the usage file (someone may have marked it in use since
   the plan was made: it stays; so does a partial fetch that has been completed since);
3. still under both locks, rename the directory to `ROOT/.modeldeploy/evicting/<name>` and
   drop its usage record: from this instant no inventory lists it, and `usage.mark_in_use`
   (which takes the same root lock) reports it gone;
4. release the locks, then delete the renamed tree.

A gc killed during step 4 leaves its tree in `evicting/`, which is never listed; the next gc
removes it first (`clear_leftovers`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modeldeploy.hub import lock, usage
from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.inventory import State
from modeldeploy.hub.layout import EVICTING_DIR, MANIFEST_DIR
from modeldeploy.hub.manifest import manifest_path
from modeldeploy.hub.retention import Eviction

Step = Callable[[str, Eviction], None]
"""Called as `step(point, eviction)` at "start" (no lock held yet), "locked" (holding the
directory's lock) and "checking" (holding both locks, before re-reading the usage file)."""


@dataclass(frozen=True)
class Outcome:
    eviction: Eviction
    removed: bool
    skipped: str | None = None
    """Why it stayed, when it did."""


def evicting_root(root: Path) -> Path:
    return root / MANIFEST_DIR / EVICTING_DIR


def clear_leftovers(root: Path) -> list[str]:
    """Delete what a killed gc left half-removed; the names it deleted."""
    folder = evicting_root(root)
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except FileNotFoundError:
        return []
    for name in names:
        _delete(folder / name)
    return names


def evict_all(
    root: Path, planned: Sequence[Eviction], *, on_step: Step | None = None
) -> list[Outcome]:
    return [evict(root, eviction, on_step=on_step) for eviction in planned]


def evict(root: Path, eviction: Eviction, *, on_step: Step | None = None) -> Outcome:
    """Remove one model directory as the module doc says, or say why it stays."""
    step = on_step or _no_step
    directory = root / eviction.name
    step("start", eviction)
    if not directory.is_dir():
        return Outcome(eviction, removed=False, skipped="already gone")
    try:
        with lock.directory_lock(directory):
            step("locked", eviction)
            doomed = _take_away(root, eviction, step)
    except FetchError as exc:
        if exc.reason is not FetchReason.Locked:
            raise
        return Outcome(eviction, removed=False, skipped="being fetched or repaired (locked)")
    if isinstance(doomed, str):
        return Outcome(eviction, removed=False, skipped=doomed)
    _delete(doomed)
    return Outcome(eviction, removed=True)


def _take_away(root: Path, eviction: Eviction, step: Step) -> Path | str:
    """Under the root lock: the renamed directory, or why it must stay."""
    with lock.root_lock(root):
        step("checking", eviction)
        if eviction.state is State.INCOMPLETE and manifest_path(root / eviction.name).exists():
            return "fetched since the plan was made"
        models = usage.read(root)
        users = models.get(eviction.name, usage.ModelUsage()).users
        if users:
            return f"now in use by {', '.join(users)}"
        target = evicting_root(root) / eviction.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            _delete(target)  # a killed gc's leftover of the same name
        os.rename(root / eviction.name, target)
        if models.pop(eviction.name, None) is not None:
            usage.write(root, models)
        return target


def _delete(tree: Path) -> None:
    """Remove a renamed-away tree; another gc clearing the same leftover is no failure."""
    shutil.rmtree(tree, ignore_errors=True)


def _no_step(point: str, eviction: Eviction) -> None:
    return None
