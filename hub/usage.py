"""The usage file of a cache root: `ROOT/.modeldeploy/usage.json`.

`{"models": {"<dir name>": {"lastUsed": ISO|null, "requests": int, "usedBy": [names],
"inUse": {"<deployment>": "<ISO marked at>"}}}}`. Runtimes mount the cache read-only, so
the operator records use: it passes what its runtimes reported (`cache gc|verify --usage`,
merged here) and marks a model in use before the pods that mount it exist (`mark_in_use`).
Retention never removes a model whose record names a user (`usedBy` or `inUse`).

Every change is a read-modify-write under the root lock (`lock.root_lock`) and an atomic
rename, the same lock eviction holds while it re-checks use and renames a directory away:
a model is either marked before that check (and kept) or after its directory is gone (and
`mark_in_use` says so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy.hub import lock, records
from modeldeploy.hub.layout import MANIFEST_DIR, USAGE_NAME


class UsageError(ValueError):
    """A usage record (the file, or `--usage`) is malformed; the message says where."""


@dataclass(frozen=True)
class ModelUsage:
    """What is known of one model directory's use."""

    last_used: str | None = None
    requests: int = 0
    used_by: tuple[str, ...] = ()
    in_use: Mapping[str, str] = field(default_factory=dict)

    @property
    def users(self) -> tuple[str, ...]:
        """Everyone using it: the operator's `usedBy` and whoever marked it in use."""
        return tuple(sorted({*self.used_by, *self.in_use}))

    def to_json(self) -> dict[str, Any]:
        return {
            "lastUsed": self.last_used,
            "requests": self.requests,
            "usedBy": list(self.used_by),
            "inUse": dict(sorted(self.in_use.items())),
        }


@dataclass(frozen=True)
class UsageUpdate:
    """One model's record as given to `merge`; a field left None is left as it is."""

    last_used: str | None = None
    requests: int | None = None
    used_by: tuple[str, ...] | None = None
    in_use: Mapping[str, str] | None = None


def usage_path(root: Path) -> Path:
    return root / MANIFEST_DIR / USAGE_NAME


def read(root: Path) -> dict[str, ModelUsage]:
    """The usage file's records; none when there is no file; UsageError when malformed."""
    path = usage_path(root)
    try:
        data = records.read_json(path)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the usage file: {exc}") from exc
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise UsageError(f'{path}: malformed usage file: expected {{"models": {{...}}}}')
    updates = parse_updates(models, where=str(path))
    return {name: _apply(ModelUsage(), update) for name, update in updates.items()}


def write(root: Path, models: Mapping[str, ModelUsage]) -> None:
    """Replace the usage file; the caller holds the root lock."""
    payload = {"models": {name: models[name].to_json() for name in sorted(models)}}
    records.write_json(usage_path(root), payload)


def parse_updates(data: Any, *, where: str = "--usage") -> dict[str, UsageUpdate]:
    """`{"<dir name>": {"lastUsed", "requests", "usedBy", "inUse"}}`, each field optional."""
    if not isinstance(data, Mapping):
        raise UsageError(f"{where}: expected an object of model directory names")
    return {str(name): _update(record, where=f"{where}: {name}") for name, record in data.items()}


def merged(
    current: Mapping[str, ModelUsage], updates: Mapping[str, UsageUpdate]
) -> dict[str, ModelUsage]:
    """`current` with `updates` applied: max requests, latest lastUsed, given users replace."""
    result = dict(current)
    for name, update in updates.items():
        result[name] = _apply(result.get(name, ModelUsage()), update)
    return result


def merge(root: Path, updates: Mapping[str, UsageUpdate]) -> dict[str, ModelUsage]:
    """Merge `updates` into the usage file (see `merged`); return what it now holds."""
    with lock.root_lock(root):
        models = merged(read(root), updates)
        write(root, models)
    return models


def mark_in_use(root: Path, name: str, by: str, *, at: str | None = None) -> bool:
    """Record that `by` uses model directory `name`; whether that directory is still there.

    False means it was removed before the mark (its eviction held the root lock first): the
    caller must not mount it. The mark stays either way, so a re-fetch of it is kept too.
    """
    with lock.root_lock(root):
        models = read(root)
        current = models.get(name, ModelUsage())
        in_use = {**current.in_use, by: at or records.now_iso()}
        models[name] = dataclasses.replace(current, in_use=in_use)
        write(root, models)
        return (root / name).is_dir()


def release(root: Path, name: str, by: str) -> None:
    """`by` no longer uses `name` (a no-op when it was not marked)."""
    with lock.root_lock(root):
        models = read(root)
        current = models.get(name)
        if current is None or by not in current.in_use:
            return
        in_use = {user: at for user, at in current.in_use.items() if user != by}
        models[name] = dataclasses.replace(current, in_use=in_use)
        write(root, models)


def _apply(current: ModelUsage, update: UsageUpdate) -> ModelUsage:
    return ModelUsage(
        last_used=latest(current.last_used, update.last_used),
        requests=max(current.requests, update.requests or 0),
        used_by=current.used_by if update.used_by is None else update.used_by,
        in_use=current.in_use if update.in_use is None else update.in_use,
    )


def latest(*moments: str | None) -> str | None:
    """The latest of ISO times (compared as times, not strings); None when none is given."""
    given = [m for m in moments if m]
    return max(given, key=records.parse_iso) if given else None


def _update(record: Any, *, where: str) -> UsageUpdate:
    if not isinstance(record, Mapping):
        raise UsageError(f"{where}: expected an object")
    last_used = record.get("lastUsed")
    requests = record.get("requests")
    used_by = record.get("usedBy")
    in_use = record.get("inUse")
    if last_used is not None:
        try:
            records.parse_iso(str(last_used))
        except ValueError:
            raise UsageError(f"{where}: lastUsed {last_used!r} is not an ISO 8601 time") from None
    if requests is not None and (
        not isinstance(requests, int) or isinstance(requests, bool) or requests < 0
    ):
        raise UsageError(f"{where}: requests {requests!r} is not a non-negative integer")
    if used_by is not None and (
        not isinstance(used_by, list) or not all(isinstance(u, str) for u in used_by)
    ):
        raise UsageError(f"{where}: usedBy must be a list of names")
    if in_use is not None and (
        not isinstance(in_use, Mapping) or not all(isinstance(v, str) for v in in_use.values())
    ):
        raise UsageError(f"{where}: inUse must map names to ISO times")
    return UsageUpdate(
        last_used=None if last_used is None else str(last_used),
        requests=requests,
        used_by=None if used_by is None else tuple(sorted(set(used_by))),
        in_use=None if in_use is None else {str(k): str(v) for k, v in in_use.items()},
    )
