"""`fetch`: resolve a revision, list and select files, download and verify them, then write
the manifest, last. The one entry point the command line, the operator's fetch Job and the
runtime share.

Idempotent: a directory whose manifest already names this repo, commit and file set (with
every file present at its size) is left alone, so a re-run downloads nothing. Such a run
hashes nothing either, and says so: its `done` event carries `alreadyComplete: true` and
`verified: "manifest"` (what was checked), not a verification it did not do. A changed
revision first removes the old manifest, so a half-updated directory never looks complete.

Before its first byte a fetch writes its intent (`intent`: repo, revision, commit, file
selection, bytes and files in all), so a directory of partial files says what it is part of;
the manifest, written last, records the selection too (`sharing`) and replaces the intent.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modeldeploy.hub import (
    corruption,
    download,
    engine,
    hubapi,
    intent,
    listing,
    lock,
    paths,
    repoid,
    resolve,
    sharing,
)
from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.manifest import (
    Manifest,
    ManifestError,
    ManifestFile,
    manifest_path,
    read_manifest,
    repairing_path,
    write_manifest,
)
from modeldeploy.hub.progress import ProgressEvent, ProgressMeter
from modeldeploy.hub.records import now_iso
from modeldeploy.hub.remote import RemoteFile
from modeldeploy.hub.throttle import Throttle

FILES_IN_DONE = 32
"""A repo of at most this many files lists each file's verified sha256 in its `done` event
(the operator copies them into status.verification.files); a larger one names only the
manifest's digest, so that the line and the status stay small."""


@dataclass(frozen=True)
class FetchResult:
    repo: str
    revision: str
    commit: str
    endpoint: str
    directory: Path
    files: tuple[ManifestFile, ...]
    bytes_total: int
    bytes_downloaded: int
    seconds: float
    already_complete: bool
    manifest: Path


def fetch(
    repo: str,
    dest: Path,
    *,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
    include: Sequence[str] = (),
    allow_pickle: bool = False,
    pins: Mapping[str, str] | None = None,
    max_workers: int = 4,
    max_bytes_per_second: float | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel: threading.Event | None = None,
    allow_missing_hash: bool = False,
    stall_timeout: float = 60.0,
    retries: int = 5,
    backoff_base: float = 0.5,
    lock_timeout: float = 0.0,
) -> FetchResult:
    """Make `dest` hold the verified files of `repo` at `revision`; see the module doc.

    Blocking. Raises FetchError with a typed reason; `cancel.set()` from another thread
    stops it within a fraction of a second with reason Interrupted, keeping partials.
    """
    started = time.monotonic()
    repoid.check_repo_id(repo)
    endpoint_url = hubapi.endpoint_or_default(endpoint)
    meter = ProgressMeter(on_progress=on_progress)
    meter.emit(force=True)
    _make_dest(dest)
    with lock.directory_lock(dest, timeout=lock_timeout):
        commit = resolve.resolve_revision(repo, revision, endpoint=endpoint_url, token=token)
        files = listing.list_files(
            repo,
            commit,
            endpoint=endpoint_url,
            token=token,
            include=include,
            allow_pickle=allow_pickle,
            pins=pins,
            allow_missing_hash=allow_missing_hash,
        )
        if cancel is not None and cancel.is_set():
            raise download.interrupted(repo)
        current = _complete_manifest(dest, repo=repo, commit=commit, files=files)
        if current is not None:
            meter.bytes_done = meter.bytes_total = current.total_bytes
            meter.files_total = len(files)
            return _finish(meter, current, dest, started=started, complete=True)
        _retire_manifest(dest, keep=files)
        engine.check_disk_space(dest, files)
        chosen = sharing.Selection.of(include=include, allow_pickle=allow_pickle, sha256=pins)
        _declare(dest, repo=repo, revision=revision, commit=commit, selection=chosen, files=files)
        settings = download.TransferSettings(
            repo=repo,
            commit=commit,
            endpoint=endpoint_url,
            token=token,
            cancel=threading.Event(),
            meter=meter,
            stall_timeout=stall_timeout,
            retries=retries,
            backoff_base=backoff_base,
            throttle=Throttle(max_bytes_per_second) if max_bytes_per_second else None,
        )
        written = _download_and_record(
            dest,
            files,
            settings=settings,
            revision=revision,
            selection=chosen,
            max_workers=max_workers,
            cancel=cancel,
        )
    return _finish(meter, written, dest, started=started, complete=False)


def _finish(
    meter: ProgressMeter, manifest: Manifest, dest: Path, *, started: float, complete: bool
) -> FetchResult:
    result = FetchResult(
        repo=manifest.repo,
        revision=manifest.revision,
        commit=manifest.commit,
        endpoint=manifest.endpoint,
        directory=dest,
        files=manifest.files,
        bytes_total=manifest.total_bytes,
        bytes_downloaded=meter.moved,
        seconds=time.monotonic() - started,
        already_complete=complete,
        manifest=manifest_path(dest),
    )
    meter.files_done = len(manifest.files)
    # A complete directory was checked against its manifest (sizes), not re-hashed.
    meter.emit(
        force=True,
        phase="done",
        seconds=round(result.seconds, 3),
        verified="manifest" if complete else True,
        alreadyComplete=complete,
        commit=result.commit,
        bytesDownloaded=result.bytes_downloaded,
        manifestDigest=_sha256_of(result.manifest),
        **_file_digests(manifest),
    )
    return result


def _file_digests(manifest: Manifest) -> dict[str, dict[str, str]]:
    if len(manifest.files) > FILES_IN_DONE:
        return {}
    return {"files": {f.path: f.sha256 for f in manifest.files}}


def _sha256_of(path: Path) -> str:
    """The manifest's own digest: one value that names every file's verified sha256."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _make_dest(dest: Path) -> None:
    """Create the fetch directory, as a typed failure naming it when that is impossible."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / paths.MANIFEST_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        raise FetchError(
            FetchReason.DestinationUnusable,
            f"{dest}: cannot create the fetch directory: {exc.strerror or exc}",
        ) from exc


def _declare(
    dest: Path,
    *,
    repo: str,
    revision: str,
    commit: str,
    selection: sharing.Selection,
    files: Sequence[RemoteFile],
) -> None:
    """Write the intent record before the first byte, so a partial directory says what it is."""
    record = intent.Intent(
        repo=repo,
        revision=revision,
        commit=commit,
        selection=selection,
        bytes_total=sum(f.size for f in files),
        files_total=len(files),
        started_at=now_iso(),
    )
    try:
        intent.write_intent(dest, record)
    except OSError as exc:
        raise FetchError(
            FetchReason.DestinationUnusable,
            f"{dest}: cannot write {intent.intent_path(dest)}: {exc.strerror or exc}",
        ) from exc


def _download_and_record(
    dest: Path,
    files: Sequence[RemoteFile],
    *,
    settings: download.TransferSettings,
    revision: str,
    selection: sharing.Selection,
    max_workers: int,
    cancel: threading.Event | None,
) -> Manifest:
    """Bring every file in (verified), then write the manifest and drop stale partials."""
    meter = settings.meter
    meter.start("downloading", bytes_total=sum(f.size for f in files), files_total=len(files))
    digests = engine.bring_files(
        files, directory=dest, settings=settings, max_workers=max_workers, cancel=cancel
    )
    meter.emit(force=True, phase="verifying")
    written = _write(
        dest,
        repo=settings.repo,
        revision=revision,
        commit=settings.commit,
        endpoint=settings.endpoint,
        files=files,
        digests=digests,
        selection=selection,
    )
    # Partials left by other commits or selections will never be resumed now.
    shutil.rmtree(download.partial_root(dest), ignore_errors=True)
    return written


def _complete_manifest(
    dest: Path, *, repo: str, commit: str, files: Sequence[RemoteFile]
) -> Manifest | None:
    """The existing manifest if it already records exactly these files, all in place."""
    try:
        manifest = read_manifest(dest)
    except ManifestError:
        return None
    if manifest.repo != repo or manifest.commit != commit:
        return None
    recorded = {(f.path, f.size) for f in manifest.files}
    if recorded != {(f.path, f.size) for f in files}:
        return None
    for remote, entry in zip(
        sorted(files, key=lambda f: f.path),
        sorted(manifest.files, key=lambda f: f.path),
        strict=True,
    ):
        if remote.sha256 is not None and remote.sha256 != entry.sha256:
            return None
    for entry in manifest.files:
        path = paths.target_in(dest, entry.path)
        if not path.is_file() or path.stat().st_size != entry.size:
            return None
    return manifest


def _retire_manifest(dest: Path, *, keep: Sequence[RemoteFile]) -> None:
    """Remove the old manifest before any file changes, and files only it listed.

    A failed repair's manifest copy goes too: the new manifest will be the only record.
    """
    repairing_path(dest).unlink(missing_ok=True)
    try:
        old = read_manifest(dest)
    except ManifestError:
        manifest_path(dest).unlink(missing_ok=True)
        return
    manifest_path(dest).unlink()
    kept = {f.path for f in keep}
    for entry in old.files:
        if entry.path not in kept:
            paths.target_in(dest, entry.path).unlink(missing_ok=True)


def _write(
    dest: Path,
    *,
    repo: str,
    revision: str,
    commit: str,
    endpoint: str,
    files: Sequence[RemoteFile],
    digests: Mapping[str, str],
    selection: sharing.Selection,
) -> Manifest:
    """The manifest, last; then the records it makes stale (every file was just verified)."""
    unverified = [f.path for f in files if not f.has_expected_hash]
    extra: dict[str, object] = {"selection": selection.to_json()}
    if unverified:
        extra["unverifiedFiles"] = unverified
    manifest = Manifest(
        repo=repo,
        revision=revision,
        commit=commit,
        endpoint=endpoint,
        files=tuple(ManifestFile(path=f.path, size=f.size, sha256=digests[f.path]) for f in files),
        verified_at=now_iso(),
        extra=extra,
    )
    write_manifest(dest, manifest)
    intent.clear_intent(dest)
    corruption.clear_corruption(dest)
    return manifest
