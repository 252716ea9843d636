"""Check a fetch directory against its manifest: quickly (for every pod start) or fully.

Quick: the manifest parses, every listed file is present at its recorded size, and every
safetensors header parses and fits its file. No hashing; milliseconds for any model.
Full: every byte re-hashed and compared with the manifest's sha256, files in parallel.
hashlib drops the GIL while hashing large buffers, so plain threads use every core without
the start-up cost of a process pool (which matters: `modeldeploy verify` is measured against
`sha256sum`).

This module stays lean (no huggingface_hub, no pydantic): `repair` imports the fetcher only
when it has something to repair.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from modeldeploy.hub import hashing, paths, safetensors_header
from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.manifest import (
    Manifest,
    ManifestError,
    ManifestFile,
    manifest_path,
    read_manifest,
    repairing_path,
)
from modeldeploy.hub.progress import ProgressEvent, ProgressMeter

Problem = Literal["missing", "size mismatch", "sha256 mismatch", "header unreadable"]


@dataclass(frozen=True)
class BadFile:
    path: str
    reason: Problem
    expected: str | None = None
    actual: str | None = None

    def describe(self) -> str:
        if self.expected is None:
            return f"{self.path}: {self.reason}"
        return f"{self.path}: {self.reason} (expected {self.expected}, got {self.actual})"


@dataclass(frozen=True)
class VerifyReport:
    directory: Path
    manifest: Manifest
    full: bool
    bad: tuple[BadFile, ...]
    files_checked: int
    bytes_checked: int
    seconds: float
    repaired: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.bad

    def summary(self) -> str:
        mode = "every byte hashed" if self.full else "sizes and headers"
        if self.ok:
            return (
                f"{self.directory}: {self.files_checked} files, "
                f"{self.bytes_checked / 1e9:.3f} GB verified ({mode}) in {self.seconds:.2f}s"
            )
        return f"{self.directory}: {len(self.bad)} bad: " + "; ".join(
            bad.describe() for bad in self.bad
        )


def load_manifest(directory: Path, *, repairing: bool = False) -> Manifest:
    """The manifest, or FetchError ManifestMissing / ManifestInvalid naming the file.

    `repairing`: when a `--repair` failed half-way, the manifest waits in its repairing
    copy; only another repair may use it (the directory is not complete meanwhile).
    A `directory` that does not exist, or is a file, is said to be so (a typo in the path
    is likelier than a fetch that never finished).
    """
    if not directory.is_dir():
        what = (
            "is not a directory (a fetch directory holds .modeldeploy/manifest.json)"
            if directory.exists()
            else "directory does not exist"
        )
        raise FetchError(FetchReason.ManifestMissing, f"{directory}: {what}")
    path = manifest_path(directory)
    if repairing and not path.exists() and repairing_path(directory).exists():
        path = repairing_path(directory)
    try:
        return read_manifest(directory, path=path)
    except ManifestError as exc:
        reason = FetchReason.ManifestInvalid if path.exists() else FetchReason.ManifestMissing
        raise FetchError(reason, str(exc)) from exc


def check_quick(directory: Path, entry: ManifestFile) -> BadFile | None:
    # Resolving refuses a file reached through a symlink that leaves the directory.
    path = paths.target_in(directory, entry.path)
    try:
        size = path.stat().st_size
    except OSError:
        return BadFile(entry.path, "missing")
    if not path.is_file():
        return BadFile(entry.path, "missing")
    if size != entry.size:
        return BadFile(entry.path, "size mismatch", str(entry.size), str(size))
    if entry.path.endswith(".safetensors"):
        try:
            safetensors_header.read_header(path)
        except (OSError, ValueError) as exc:
            return BadFile(entry.path, "header unreadable", "a safetensors header", str(exc))
    return None


def check_full(directory: Path, entry: ManifestFile, meter: ProgressMeter) -> BadFile | None:
    quick = check_quick(directory, entry)
    if quick is not None:
        return quick
    digests = hashing.ContentDigests(size=entry.size, want_git_sha1=False)
    hashing.feed_file(directory / entry.path, digests, on_chunk=meter.add_bytes)
    if digests.sha256 != entry.sha256:
        return BadFile(entry.path, "sha256 mismatch", entry.sha256, digests.sha256)
    return None


def verify_directory(
    directory: Path,
    *,
    full: bool,
    max_workers: int | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    repairing: bool = False,
) -> VerifyReport:
    """Check `directory` against its manifest; see the module doc. Never modifies anything.

    Emits a final `done` event only when every file is good: on failure the caller reports
    the bad files (as one `error`), so a reader never sees both.
    `repairing`: read the manifest a failed repair left (see `load_manifest`).
    """
    started = time.monotonic()
    manifest = load_manifest(directory, repairing=repairing)
    meter = ProgressMeter(on_progress=on_progress)
    meter.start(
        "verifying",
        bytes_total=manifest.total_bytes if full else 0,
        files_total=len(manifest.files),
    )
    workers = max_workers or min(32, (os.cpu_count() or 1), max(1, len(manifest.files)))
    # Biggest first: the longest hash starts at once, small files fill the gaps.
    entries = sorted(manifest.files, key=lambda f: f.size, reverse=True)

    def check(entry: ManifestFile) -> BadFile | None:
        bad = check_full(directory, entry, meter) if full else check_quick(directory, entry)
        meter.file_done()
        return bad

    if workers == 1 or not full:
        results = [check(entry) for entry in entries]
    else:
        from concurrent.futures import ThreadPoolExecutor  # lazily: a lean command start

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
            results = list(pool.map(check, entries))
    bad = tuple(sorted((b for b in results if b is not None), key=lambda b: b.path))
    report = VerifyReport(
        directory=directory,
        manifest=manifest,
        full=full,
        bad=bad,
        files_checked=len(entries),
        bytes_checked=manifest.total_bytes,
        seconds=time.monotonic() - started,
    )
    if report.ok:
        meter.emit(
            force=True,
            phase="done",
            seconds=round(report.seconds, 3),
            verified=True,
            commit=manifest.commit,
        )
    return report


def repair(
    directory: Path,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    max_workers: int | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel: threading.Event | None = None,
    stall_timeout: float = 60.0,
    retries: int = 5,
    backoff_base: float = 0.5,
) -> VerifyReport:
    """Fully verify, then re-download only the bad files from the manifest's repo and commit.

    The manifest is the record of expected hashes, so it is what repaired files are checked
    against; it is kept as is (with a fresh verifiedAt) when every file is good again, and
    kept aside (`repairing_path`) for the next repair when this one fails. `max_workers`
    bounds both the hashing and the downloads (default: one hash per core, 4 downloads).
    """
    report = verify_directory(
        directory, full=True, max_workers=max_workers, on_progress=on_progress, repairing=True
    )
    if report.ok:
        if not manifest_path(directory).exists():  # a failed repair's copy: all good now
            from modeldeploy.hub import repairing

            repairing.restore_manifest(report)
        return report
    from modeldeploy.hub import repairing

    return repairing.repair_files(
        report,
        endpoint=endpoint,
        token=token,
        max_workers=max_workers or 4,
        on_progress=on_progress,
        cancel=cancel,
        stall_timeout=stall_timeout,
        retries=retries,
        backoff_base=backoff_base,
    )
