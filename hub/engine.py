"""Bring a set of files into a directory, in parallel, each one verified.

Shared by `fetch` (files from the hub listing) and `repair` (files from the manifest). A file
already in place with the right size is re-hashed locally instead of downloaded; everything
else goes through `download.FileDownload`. The first hard failure stops the other workers,
which keep their partial files for the next run.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from modeldeploy.hub import download, hashing, paths
from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.remote import RemoteFile

# Left free on the filesystem after the download, for the manifest, logs and the rest.
DISK_RESERVE_BYTES = 16 * 1024 * 1024
POLL_SECONDS = 0.2


def bytes_needed(directory: Path, files: Sequence[RemoteFile]) -> int:
    """Bytes still to write: files not yet in place, less the partials a resume keeps."""
    needed = 0
    for remote in files:
        final = directory / remote.path
        if final.is_file() and final.stat().st_size == remote.size:
            continue
        needed += max(remote.size - download.partial_bytes(directory, remote), 0)
    return needed


def check_disk_space(directory: Path, files: Sequence[RemoteFile]) -> None:
    """Fail before downloading anything when the files cannot fit (InsufficientDisk)."""
    needed = bytes_needed(directory, files)
    free = shutil.disk_usage(directory).free
    if needed + DISK_RESERVE_BYTES > free:
        raise FetchError(
            FetchReason.InsufficientDisk,
            f"{directory}: needs {_gb(needed)} more but only {_gb(free)} is free on its filesystem",
        )


def _gb(count: int) -> str:
    return f"{count / 1e9:.2f} GB"


def bring_file(remote: RemoteFile, *, directory: Path, settings: download.TransferSettings) -> str:
    """Make `directory/remote.path` hold the expected bytes; return its sha256."""
    final = paths.target_in(directory, remote.path)
    if final.is_file() and not final.is_symlink() and final.stat().st_size == remote.size:
        digests = hashing.ContentDigests(size=remote.size, want_git_sha1=remote.sha256 is None)
        hashing.feed_file(final, digests)
        if download.mismatch(remote, digests) is None and digests.length == remote.size:
            settings.meter.add_bytes(remote.size, moved=False)
            return digests.sha256
        final.unlink()  # wrong bytes in place: replace them
    return download.FileDownload(remote, directory=directory, settings=settings).run()


def bring_files(
    files: Sequence[RemoteFile],
    *,
    directory: Path,
    settings: download.TransferSettings,
    max_workers: int,
    cancel: threading.Event | None,
) -> dict[str, str]:
    """Bring every file (biggest first, `max_workers` at a time); return path -> sha256."""
    for remote in files:  # refuse a path escaping the directory before any byte moves
        paths.target_in(directory, remote.path)
    order = sorted(files, key=lambda remote: remote.size, reverse=True)
    results: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="fetch") as pool:
        futures = {
            pool.submit(bring_file, remote, directory=directory, settings=settings): remote
            for remote in order
        }
        try:
            _collect(futures, results, settings=settings, cancel=cancel)
        except BaseException:
            settings.cancel.set()  # stop the others; they keep their partials
            settings.registry.shutdown_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def _collect(
    futures: dict[Future[str], RemoteFile],
    results: dict[str, str],
    *,
    settings: download.TransferSettings,
    cancel: threading.Event | None,
) -> None:
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        if cancel is not None and cancel.is_set():
            raise FetchError(
                FetchReason.Interrupted,
                "fetch interrupted; partial files are kept and the next fetch resumes them",
            )
        for future in done:
            results[futures[future].path] = future.result()  # re-raises a worker's failure
            settings.meter.file_done()
        settings.meter.emit()  # a heartbeat, so a stall shows as a falling speed
