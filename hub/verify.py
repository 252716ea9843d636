"""Check a fetch directory against its manifest: quickly (for every pod start) or fully.

Quick: the manifest parses, every listed file is present at its recorded size, and every
safetensors header parses and fits its file. No hashing; milliseconds for any model.
Full: every byte re-hashed and compared with the manifest's sha256, files in parallel.
hashlib drops the GIL while hashing large buffers, so plain threads use every core without
the start-up cost of a process pool (which matters: `modeldeploy verify` is measured against
`sha256sum`).

This module stays lean (no huggingface_hub, no pydantic) and imports nothing that downloads:
re-fetching bad files is `repairing`'s job, which builds on this one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from modeldeploy.hub import console, hashing, paths, safetensors_header
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
Job = tuple[Path, ManifestFile]
"""One file to check: its directory and its manifest entry."""


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
                f"{self.directory}: {console.counted(self.files_checked, 'file')}, "
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
    try:
        hashing.feed_file(directory / entry.path, digests, on_chunk=meter.add_bytes)
    except FileNotFoundError:  # removed since it was looked at (an eviction, by hand)
        return BadFile(entry.path, "missing")
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
    entries = _biggest_first([(directory, entry) for entry in manifest.files])

    def check(job: tuple[Path, ManifestFile]) -> BadFile | None:
        bad = check_full(*job, meter) if full else check_quick(*job)
        meter.file_done()
        return bad

    results = _run_all(check, entries, workers=_workers(max_workers, len(entries), full=full))
    report = VerifyReport(
        directory=directory,
        manifest=manifest,
        full=full,
        bad=_sorted_bad(results),
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


def verify_many(
    directories: Sequence[Path],
    *,
    max_workers: int | None = None,
    repairing: bool = False,
    cancel: threading.Event | None = None,
) -> list[VerifyReport | FetchError]:
    """Fully verify several directories at once: every file of every one in one pool.

    One pool, not one directory after another, keeps every core busy however the bytes are
    spread (a cache root of many one-file models verifies as fast as one many-file model).
    Each directory's report, or the FetchError that its manifest could not be read with, in
    the order given; a report's `seconds` run from the start to its last file's end.
    `cancel.set()` stops it once the files being hashed are done: FetchError Interrupted.
    """
    started = time.monotonic()
    loaded: list[Manifest | FetchError] = []
    for directory in directories:
        try:
            loaded.append(load_manifest(directory, repairing=repairing))
        except FetchError as exc:
            loaded.append(exc)
    manifests = {i: m for i, m in enumerate(loaded) if isinstance(m, Manifest)}
    jobs = _biggest_first([(directories[i], e) for i, m in manifests.items() for e in m.files])
    owner = {directory: i for i, directory in enumerate(directories)}
    ended = dict.fromkeys(manifests, started)
    meter = ProgressMeter(on_progress=None)

    def check(job: tuple[Path, ManifestFile]) -> BadFile | None:
        if cancel is not None and cancel.is_set():
            raise FetchError(FetchReason.Interrupted, f"{job[0]}: verify interrupted")
        bad = check_full(*job, meter)
        ended[owner[job[0]]] = time.monotonic()  # one dict item per store: thread-safe
        return bad

    results = _run_all(check, jobs, workers=_workers(max_workers, len(jobs), full=True))
    bad_of: dict[int, list[BadFile | None]] = {i: [] for i in manifests}
    for (directory, _), bad in zip(jobs, results, strict=True):
        bad_of[owner[directory]].append(bad)
    return [
        item
        if isinstance(item, FetchError)
        else VerifyReport(
            directory=directories[i],
            manifest=item,
            full=True,
            bad=_sorted_bad(bad_of[i]),
            files_checked=len(item.files),
            bytes_checked=item.total_bytes,
            seconds=max(ended[i], started) - started,
        )
        for i, item in enumerate(loaded)
    ]


def _biggest_first(jobs: list[Job]) -> list[Job]:
    """The longest hash starts at once, small files fill the gaps."""
    return sorted(jobs, key=lambda job: job[1].size, reverse=True)


def _workers(max_workers: int | None, jobs: int, *, full: bool) -> int:
    if not full:
        return 1  # no hashing: a thread pool would cost more than it saves
    return max_workers or min(32, (os.cpu_count() or 1), max(1, jobs))


def _run_all(
    check: Callable[[Job], BadFile | None], jobs: list[Job], *, workers: int
) -> list[BadFile | None]:
    if workers == 1:
        return [check(job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor  # lazily: a lean command start

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
        return list(pool.map(check, jobs))


def _sorted_bad(results: list[BadFile | None]) -> tuple[BadFile, ...]:
    return tuple(sorted((b for b in results if b is not None), key=lambda b: b.path))
