"""List the files of one commit, with the hash each one must have, and pick which to fetch.

Expected hashes come from the repository's tree at the resolved commit, never from the
bytes being served (a mirror serving wrong bytes also reports their hash). Mirrors differ
in which endpoints carry hashes, so the sources are merged in order of preference:

1. the recursive tree listing (`/api/models/{repo}/tree/{commit}`),
2. paths-info (`POST /api/models/{repo}/paths-info/{commit}`) for files still lacking one,
3. model info with file metadata (`/api/models/{repo}/revision/{commit}?blobs=true`),

and an LFS sha256 from any source beats a git blob sha1 (for an LFS file that id is the
pointer's, not the content's). User pins override all of them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from modeldeploy.hub import hubapi, paths
from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.remote import RemoteFile

__all__ = ["PICKLE_SUFFIXES", "RemoteFile", "is_pickle", "list_files", "select_files"]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFETENSORS_SUFFIX = ".safetensors"
LFS_ALWAYS_ABOVE = 10 * 1024 * 1024


@dataclass
class _Entry:
    path: str
    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None
    lfs: bool = False

    def merge(self, *, size: Any, lfs: Any, blob_id: Any) -> None:
        if self.size is None and isinstance(size, int):
            self.size = size
        if lfs is not None and getattr(lfs, "sha256", None):
            self.sha256 = str(lfs.sha256)
            self.lfs = True
            if isinstance(getattr(lfs, "size", None), int):
                self.size = lfs.size
        if blob_id and self.git_sha1 is None:
            self.git_sha1 = str(blob_id)

    @property
    def complete(self) -> bool:
        """Has a size and a hash we can trust as the content's.

        Above the hub's LFS threshold a file is always LFS, so a git blob id there can only
        be the pointer's: such a file still needs its sha256 from another source.
        """
        if self.size is None:
            return False
        if self.sha256 is not None:
            return True
        return self.git_sha1 is not None and self.size <= LFS_ALWAYS_ABOVE


def list_files(
    repo: str,
    commit: str,
    *,
    endpoint: str | None,
    token: str | None,
    include: Sequence[str] = (),
    allow_pickle: bool = False,
    pins: Mapping[str, str] | None = None,
    allow_missing_hash: bool = False,
) -> list[RemoteFile]:
    """The files to fetch at `commit`, each with its expected hash (see the module doc)."""
    entries = _gather(repo, commit, endpoint=endpoint, token=token, include=include)
    remote = [_to_remote(entry) for entry in entries.values()]
    return select_files(
        remote,
        repo=repo,
        include=include,
        allow_pickle=allow_pickle,
        pins=pins or {},
        allow_missing_hash=allow_missing_hash,
    )


def _gather(
    repo: str, commit: str, *, endpoint: str | None, token: str | None, include: Sequence[str]
) -> dict[str, _Entry]:
    api = hubapi.client(endpoint=endpoint, token=token)
    what = f"{repo}@{commit}"
    entries = _from_tree(api, repo, commit, what=what)
    if entries is None:
        entries = {}
        _merge_siblings(api, repo, commit, entries, what=what)
    wanted = [e for e in entries.values() if _matches(e.path, include)]
    if any(not e.complete for e in wanted):
        _merge_paths_info(
            api, repo, commit, entries, [e.path for e in wanted if not e.complete], what=what
        )
    if any(not e.complete for e in wanted):
        _merge_siblings(api, repo, commit, entries, what=what)
    return entries


def _from_tree(api: Any, repo: str, commit: str, *, what: str) -> dict[str, _Entry] | None:
    """The recursive tree, or None when this endpoint does not serve one (some mirrors)."""
    from huggingface_hub import errors

    try:
        items = hubapi.call(
            lambda: list(api.list_repo_tree(repo, revision=commit, recursive=True)), what=what
        )
    except FetchError as exc:
        cause = exc.__cause__
        if (
            isinstance(cause, errors.HfHubHTTPError)
            and exc.reason
            in (FetchReason.RepoNotFound, FetchReason.EntryNotFound, FetchReason.NetworkError)
            and not isinstance(cause, errors.RepositoryNotFoundError)
        ):
            return None
        raise
    entries: dict[str, _Entry] = {}
    for item in items:
        if hasattr(item, "blob_id"):  # RepoFile; folders carry tree_id instead
            entry = entries.setdefault(item.path, _Entry(item.path))
            entry.merge(size=item.size, lfs=item.lfs, blob_id=item.blob_id)
    return entries


def _merge_paths_info(
    api: Any, repo: str, commit: str, entries: dict[str, _Entry], wanted: list[str], *, what: str
) -> None:
    try:
        items = hubapi.call(
            lambda: api.get_paths_info(repo, wanted, revision=commit, expand=True), what=what
        )
    except FetchError as exc:
        if exc.reason in (FetchReason.Unauthorized, FetchReason.GatedRepo):
            raise
        return  # this mirror has no paths-info: the next source may know
    for item in items:
        if hasattr(item, "blob_id") and item.path in entries:
            entries[item.path].merge(size=item.size, lfs=item.lfs, blob_id=item.blob_id)


def _merge_siblings(
    api: Any, repo: str, commit: str, entries: dict[str, _Entry], *, what: str
) -> None:
    info = hubapi.call(
        lambda: api.model_info(repo, revision=commit, files_metadata=True), what=what
    )
    for sibling in info.siblings or ():
        entry = entries.setdefault(sibling.rfilename, _Entry(sibling.rfilename))
        entry.merge(size=sibling.size, lfs=sibling.lfs, blob_id=sibling.blob_id)


def _to_remote(entry: _Entry) -> RemoteFile:
    paths.check_repo_path(entry.path)
    if entry.size is None:
        raise FetchError(
            FetchReason.EntryNotFound, f"{entry.path}: the hub lists it without a size"
        )
    return RemoteFile(
        path=entry.path,
        size=entry.size,
        sha256=entry.sha256,
        git_sha1=None if entry.lfs or entry.size > LFS_ALWAYS_ABOVE else entry.git_sha1,
        lfs=entry.lfs,
    )


def _matches(path: str, include: Sequence[str]) -> bool:
    return not include or any(fnmatch.fnmatchcase(path, pattern) for pattern in include)


def select_files(
    files: Iterable[RemoteFile],
    *,
    repo: str,
    include: Sequence[str] = (),
    allow_pickle: bool = False,
    pins: Mapping[str, str] | None = None,
    allow_missing_hash: bool = False,
) -> list[RemoteFile]:
    """Apply include patterns, the safetensors-over-pickle rule, pins and the hash rule."""
    chosen = [f for f in files if _matches(f.path, include)]
    if not chosen:
        raise FetchError(
            FetchReason.EntryNotFound, f"{repo}: no file matches {list(include) or 'the repo'}"
        )
    chosen = _apply_weight_policy(chosen, repo=repo, allow_pickle=allow_pickle)
    chosen = _apply_pins(chosen, pins or {}, repo=repo)
    missing = [f.path for f in chosen if not f.has_expected_hash]
    if missing and not allow_missing_hash:
        raise FetchError(
            FetchReason.NoExpectedHash,
            f"{repo}: the hub gives no expected hash "
            f"for {', '.join(missing)}; pin it (sha256) or allow missing hashes",
        )
    return sorted(chosen, key=lambda f: f.path)


def is_pickle(path: str) -> bool:
    """Whether `path` names pickle weights (refused unless allowed); the runtime asks too."""
    return path.lower().endswith(PICKLE_SUFFIXES)


def _apply_weight_policy(
    files: list[RemoteFile], *, repo: str, allow_pickle: bool
) -> list[RemoteFile]:
    """Safetensors only by default: skip pickle files beside them, refuse pickle-only repos."""
    pickles = [f.path for f in files if is_pickle(f.path)]
    if not pickles:
        return files
    if any(f.path.endswith(SAFETENSORS_SUFFIX) for f in files):
        return [f for f in files if not is_pickle(f.path)]
    if not allow_pickle:
        raise FetchError(
            FetchReason.PickleRefused,
            f"{repo}: weights only in pickle formats "
            f"({', '.join(pickles[:5])}); loading pickle runs arbitrary code, so "
            "they are refused unless --allow-pickle (allowPickle: true)",
        )
    return files


def _apply_pins(files: list[RemoteFile], pins: Mapping[str, str], *, repo: str) -> list[RemoteFile]:
    by_path = {f.path: f for f in files}
    unknown = sorted(set(pins) - set(by_path))
    if unknown:
        raise FetchError(
            FetchReason.EntryNotFound,
            f"{repo}: sha256 pinned for "
            f"{', '.join(unknown)}, which is not among the selected files",
        )
    for path, digest in pins.items():
        by_path[path] = replace(by_path[path], sha256=digest.lower(), git_sha1=None)
    return [by_path[f.path] for f in files]
