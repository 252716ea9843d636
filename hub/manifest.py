"""The fetch directory's manifest: the record of expected hashes, written last.

`DIR/.modeldeploy/manifest.json` holds `{repo, revision, commit, endpoint, files:
[{path, size, sha256}], verifiedAt}`. Its presence means every listed file was
verified when it was fetched. It is written atomically (temp file + rename).

Plain dataclasses and json on purpose: `modeldeploy verify` starts lean.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy.hub import paths, records
from modeldeploy.hub.layout import MANIFEST_DIR, MANIFEST_NAME, REPAIRING_NAME

__all__ = [
    "MANIFEST_DIR",
    "MANIFEST_NAME",
    "Manifest",
    "ManifestError",
    "ManifestFile",
    "manifest_path",
    "read_manifest",
    "repairing_path",
    "write_manifest",
]


class ManifestError(Exception):
    """The manifest is missing or cannot be read; the message names the file."""


@dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    repo: str
    revision: str
    commit: str
    endpoint: str
    files: tuple[ManifestFile, ...]
    verified_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "endpoint": self.endpoint,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            "verifiedAt": self.verified_at,
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        known = {"repo", "revision", "commit", "endpoint", "files", "verifiedAt"}
        files = tuple(_file_from_json(f) for f in data["files"])
        return cls(
            repo=str(data["repo"]),
            revision=str(data["revision"]),
            commit=str(data["commit"]),
            endpoint=str(data["endpoint"]),
            files=files,
            verified_at=str(data["verifiedAt"]),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _file_from_json(entry: dict[str, Any]) -> ManifestFile:
    """One file entry; its path must stay inside the directory (verify and repair act on it)."""
    path = str(entry["path"])
    problem = paths.path_problem(path)
    if problem is not None:
        raise ValueError(f"unsafe file path {path!r}: {problem}")
    size = entry["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"{path}: size {size!r} is not a non-negative integer")
    return ManifestFile(path=path, size=size, sha256=str(entry["sha256"]))


def manifest_path(directory: Path) -> Path:
    return directory / MANIFEST_DIR / MANIFEST_NAME


def repairing_path(directory: Path) -> Path:
    """Where `verify --repair` keeps the manifest while it replaces files (see layout)."""
    return directory / MANIFEST_DIR / REPAIRING_NAME


def read_manifest(directory: Path, *, path: Path | None = None) -> Manifest:
    """Read `DIR/.modeldeploy/manifest.json` (or `path`); raise ManifestError naming the file."""
    path = path or manifest_path(directory)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: no manifest (the directory was never fetched completely)"
        ) from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror}") from exc
    try:
        return Manifest.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: malformed manifest: {exc}") from exc


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write the manifest atomically: a temp file in the same folder, fsync, rename."""
    return records.write_json(manifest_path(directory), manifest.to_json())
