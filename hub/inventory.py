"""Scan a cache root: every model directory on it, with its state, size and use.

The volume is the truth, not anyone's memory of it. A model directory is any directory
directly under ROOT (not ROOT/.modeldeploy, not a dot-name) that holds a manifest, a manifest
set aside by a repair, a fetch's intent record or partial files; or one named as a model
directory (`sharing`) that holds `.modeldeploy/` at all (a fetch that died before its first
record). Its state, from what is on disk:

    manifest.json, no corrupted.json      Verified
    manifest.json and corrupted.json      Corrupted   (what `cache verify` found)
    manifest.repairing.json, lock held    Repairing
    manifest.repairing.json, lock free    Corrupted   (a repair that died)
    no manifest, lock held                Fetching
    no manifest, lock free                Incomplete  (a fetch that died)

so a half-written directory is never Verified: the fetcher writes the manifest last, and a
repair sets it aside while files change. Directories being removed sit in
ROOT/.modeldeploy/evicting/, which is never scanned. Reading only: works on a volume mounted
read-only. Stdlib only, like `verify`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from modeldeploy.hub import corruption, intent, lock, records, sharing, usage
from modeldeploy.hub.layout import (
    INTENT_NAME,
    MANIFEST_DIR,
    MANIFEST_NAME,
    PARTIAL_DIR,
    REPAIRING_NAME,
)
from modeldeploy.hub.manifest import Manifest, ManifestError, read_manifest


class State(StrEnum):
    VERIFIED = "Verified"
    FETCHING = "Fetching"
    INCOMPLETE = "Incomplete"
    CORRUPTED = "Corrupted"
    REPAIRING = "Repairing"


class RootError(Exception):
    """ROOT cannot be scanned as a cache root; the message names it and says why."""


@dataclass(frozen=True)
class InventoryModel:
    """One model directory as found on the volume (see the module doc for `state`)."""

    name: str
    repo: str | None
    revision: str | None
    commit: str | None
    bytes: int
    files: int
    state: State
    selection: sharing.Selection | None = None
    verified_at: str | None = None
    last_used: str | None = None
    requests: int = 0
    used_by: tuple[str, ...] = ()
    """Everyone using it, from the usage file: its `usedBy` and whoever marked it `inUse`."""
    bad_files: tuple[str, ...] = ()
    bytes_done: int = 0
    bytes_total: int = 0
    modified_at: str | None = None
    """The newest modification time of anything in the directory (not in the JSON)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", State(self.state))

    @property
    def digest(self) -> str | None:
        """The selection digest: from the name, else from the recorded selection."""
        parsed = sharing.parse_model_dir_name(self.name)
        if parsed is not None:
            return parsed[2]
        return self.selection.digest() if self.selection is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "selection": self.selection.to_json() if self.selection is not None else None,
            "bytes": self.bytes,
            "files": self.files,
            "state": self.state.value,
            "verifiedAt": self.verified_at,
            "lastUsed": self.last_used,
            "requests": self.requests,
            "usedBy": list(self.used_by),
            "badFiles": list(self.bad_files),
            "bytesDone": self.bytes_done,
            "bytesTotal": self.bytes_total,
        }


@dataclass(frozen=True)
class Inventory:
    root: str
    capacity_bytes: int
    scanned_at: str
    models: tuple[InventoryModel, ...]

    @property
    def used_bytes(self) -> int:
        """Bytes of every model directory, incomplete ones included."""
        return sum(m.bytes for m in self.models)

    def model(self, name: str) -> InventoryModel | None:
        return next((m for m in self.models if m.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "capacityBytes": self.capacity_bytes,
            "usedBytes": self.used_bytes,
            "scannedAt": self.scanned_at,
            "models": [m.to_json() for m in self.models],
        }


def scan(
    root: Path,
    *,
    capacity_bytes: int | None = None,
    use: Mapping[str, usage.ModelUsage] | None = None,
) -> Inventory:
    """The inventory of `root`. `use`: the usage records (default: ROOT's usage file).

    RootError when ROOT is not a cache root; usage.UsageError when its usage file is malformed
    (an unreadable record of who uses what must not pass for "nobody").
    """
    check_root(root)
    records_of = usage.read(root) if use is None else use
    models = []
    for name, path in model_directories(root):
        model = describe(path, use=records_of.get(name, usage.ModelUsage()))
        if model is not None:
            models.append(model)
    return Inventory(
        root=str(root),
        capacity_bytes=capacity(root) if capacity_bytes is None else capacity_bytes,
        scanned_at=records.now_iso(),
        models=tuple(models),
    )


def check_root(root: Path) -> None:
    """RootError unless `root` is a directory that is not itself a model directory."""
    if not root.exists():
        raise RootError(f"{root}: no such directory (the cache root)")
    if not root.is_dir():
        raise RootError(f"{root}: not a directory (the cache root holds model directories)")
    if _holds_model_records(root):
        raise RootError(
            f"{root}: this is a model directory, not a cache root; give the directory that "
            f"holds it ({root.resolve().parent}), or use `modeldeploy verify {root}`"
        )


def capacity(root: Path) -> int:
    """The size of the file system ROOT is on."""
    st = os.statvfs(root)
    return st.f_blocks * st.f_frsize


def model_directories(root: Path) -> list[tuple[str, Path]]:
    """(name, path) of every model directory under `root`, by name."""
    try:
        with os.scandir(root) as listing:
            entries = list(listing)
    except OSError as exc:
        raise RootError(f"{root}: cannot list the cache root: {exc.strerror or exc}") from exc
    found = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        if _is_model_directory(Path(entry.path), entry.name):
            found.append((entry.name, Path(entry.path)))
    return sorted(found)


def describe(path: Path, *, use: usage.ModelUsage) -> InventoryModel | None:
    """One model directory as it is now; None when it vanished meanwhile (evicted)."""
    try:
        return _describe(path, use)
    except FileNotFoundError:
        return None


def _describe(path: Path, use: usage.ModelUsage) -> InventoryModel:
    meta = path / MANIFEST_DIR
    manifest, problem = _manifest(path, meta / MANIFEST_NAME)
    if manifest is None and problem is None:
        manifest, problem = _manifest(path, meta / REPAIRING_NAME)
    state, bad = _state(path, meta, problem)
    planned = intent.read_intent(path) if manifest is None else None
    repo, revision, commit, selection = _identity(path.name, manifest, planned)
    size = _tree_size(path)
    total = manifest.total_bytes if manifest else planned.bytes_total if planned else 0
    done = size.content if not total else min(size.content, total)
    return InventoryModel(
        name=path.name,
        repo=repo,
        revision=revision,
        commit=commit,
        bytes=size.all,
        files=size.files,
        state=state,
        selection=selection,
        verified_at=manifest.verified_at if manifest else None,
        last_used=use.last_used,
        requests=use.requests,
        used_by=use.users,
        bad_files=bad,
        bytes_done=done,
        bytes_total=total,
        modified_at=records.iso(datetime.fromtimestamp(size.newest, tz=UTC)),
    )


def _state(path: Path, meta: Path, problem: str | None) -> tuple[State, tuple[str, ...]]:
    record = corruption.read_corruption(path)
    bad = record.bad if record is not None else ()
    if problem is not None:
        return State.CORRUPTED, (problem, *bad)
    if (meta / MANIFEST_NAME).exists():
        return (State.CORRUPTED if record is not None else State.VERIFIED), bad
    held = lock.is_held(path)
    if (meta / REPAIRING_NAME).exists():
        return (State.REPAIRING if held else State.CORRUPTED), bad
    return (State.FETCHING if held else State.INCOMPLETE), ()


def _manifest(directory: Path, path: Path) -> tuple[Manifest | None, str | None]:
    """The manifest at `path` (None if absent), or the problem that makes it unreadable."""
    if not path.exists():
        return None, None
    try:
        return read_manifest(directory, path=path), None
    except ManifestError as exc:
        return None, f"{MANIFEST_DIR}/{path.name}: unreadable ({exc})"


def _identity(
    name: str, manifest: Manifest | None, planned: intent.Intent | None
) -> tuple[str | None, str | None, str | None, sharing.Selection | None]:
    """repo, revision, commit and selection: the manifest's, else the intent's, else the name's."""
    if manifest is not None:
        try:
            selection = sharing.Selection.from_json(manifest.extra["selection"])
        except (KeyError, ValueError):
            selection = None  # fetched before directories carried their selection
        return manifest.repo, manifest.revision, manifest.commit, selection
    if planned is not None:
        return planned.repo, planned.revision, planned.commit, planned.selection
    parsed = sharing.parse_model_dir_name(name)
    if parsed is not None:
        return parsed[0], None, parsed[1], None
    return None, None, sharing.legacy_commit(name), None


def _is_model_directory(path: Path, name: str) -> bool:
    if _holds_model_records(path):
        return True
    named = sharing.parse_model_dir_name(name) or sharing.legacy_commit(name)
    return bool(named) and (path / MANIFEST_DIR).is_dir()


def _holds_model_records(path: Path) -> bool:
    meta = path / MANIFEST_DIR
    return (
        any((meta / record).is_file() for record in (MANIFEST_NAME, REPAIRING_NAME, INTENT_NAME))
        or (meta / PARTIAL_DIR).is_dir()
    )


@dataclass
class _Size:
    all: int = 0
    content: int = 0
    """Bytes of the model's own files and of partial files: what a fetch has brought in."""
    files: int = 0
    newest: float = 0.0


def _tree_size(path: Path) -> _Size:
    size = _Size(newest=path.lstat().st_mtime)
    partial = os.path.join(path, MANIFEST_DIR, PARTIAL_DIR)
    meta = os.path.join(path, MANIFEST_DIR)
    stack = [str(path)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            if folder == str(path):
                raise
            continue  # a partial moved into place meanwhile
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            size.newest = max(size.newest, info.st_mtime)
            if stat.S_ISDIR(info.st_mode):
                stack.append(entry.path)
            elif stat.S_ISREG(info.st_mode):
                size.all += info.st_size
                if not entry.path.startswith(meta + os.sep):
                    size.content += info.st_size
                    size.files += 1
                elif entry.path.startswith(partial + os.sep) and entry.name.endswith(".part"):
                    size.content += info.st_size
    return size
