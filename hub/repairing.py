"""Re-download the files a full verify found bad, checked against the manifest's hashes.

Built on `verify` (never the other way round), so that `modeldeploy verify` without
`--repair` never imports the download machinery. While files change, the manifest waits
under `manifest.repairing.json`: nothing takes the directory for complete, yet a repair that
fails (network down, killed) leaves the record of expected hashes for the next `--repair`.
It goes back to `manifest.json` (with a new verifiedAt), and the record of corruption that
`cache verify` may have written goes, only once every file matches it again.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from modeldeploy.hub import corruption, download, engine, hubapi, lock, paths, verify
from modeldeploy.hub.manifest import manifest_path, repairing_path, write_manifest
from modeldeploy.hub.progress import ProgressEvent, ProgressMeter
from modeldeploy.hub.records import now_iso
from modeldeploy.hub.remote import RemoteFile
from modeldeploy.hub.verify import VerifyReport


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
    report = verify.verify_directory(
        directory, full=True, max_workers=max_workers, on_progress=on_progress, repairing=True
    )
    return mend(
        report,
        endpoint=endpoint,
        token=token,
        max_workers=max_workers,
        on_progress=on_progress,
        cancel=cancel,
        stall_timeout=stall_timeout,
        retries=retries,
        backoff_base=backoff_base,
    )


def mend(
    report: VerifyReport,
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
    """Act on a full verify's findings (made with `repairing=True`): re-fetch the bad files,
    or, when every file is good, put back a manifest that a failed repair set aside."""
    if report.ok:
        if not manifest_path(report.directory).exists():
            restore_manifest(report)
        return report
    return repair_files(
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


def repair_files(
    report: VerifyReport,
    *,
    endpoint: str | None,
    token: str | None,
    max_workers: int,
    on_progress: Callable[[ProgressEvent], None] | None,
    cancel: threading.Event | None,
    stall_timeout: float,
    retries: int,
    backoff_base: float,
) -> VerifyReport:
    started = time.monotonic()
    manifest = report.manifest
    directory: Path = report.directory
    bad = {b.path for b in report.bad}
    files = [
        RemoteFile(path=f.path, size=f.size, sha256=f.sha256, git_sha1=None, lfs=True)
        for f in manifest.files
        if f.path in bad
    ]
    meter = ProgressMeter(on_progress=on_progress)
    with lock.directory_lock(directory):
        _set_manifest_aside(directory)
        for remote in files:
            paths.target_in(directory, remote.path).unlink(missing_ok=True)
        engine.check_disk_space(directory, files)
        settings = download.TransferSettings(
            repo=manifest.repo,
            commit=manifest.commit,
            endpoint=hubapi.endpoint_or_default(endpoint or manifest.endpoint),
            token=token,
            cancel=threading.Event(),
            meter=meter,
            stall_timeout=stall_timeout,
            retries=retries,
            backoff_base=backoff_base,
        )
        meter.start("downloading", bytes_total=sum(f.size for f in files), files_total=len(files))
        engine.bring_files(
            files, directory=directory, settings=settings, max_workers=max_workers, cancel=cancel
        )
        _put_manifest_back(report)
    meter.emit(
        force=True,
        phase="done",
        seconds=round(time.monotonic() - started, 3),
        verified=True,
        commit=manifest.commit,
        repaired=sorted(bad),
    )
    return dataclasses.replace(
        report,
        bad=(),
        repaired=tuple(sorted(bad)),
        seconds=report.seconds + time.monotonic() - started,
    )


def restore_manifest(report: VerifyReport) -> None:
    """Every file matches a failed repair's manifest copy now: make it the manifest again."""
    with lock.directory_lock(report.directory):
        _put_manifest_back(report)


def _set_manifest_aside(directory: Path) -> None:
    current = manifest_path(directory)
    if current.exists():  # else a failed repair already set it aside
        os.replace(current, repairing_path(directory))


def _put_manifest_back(report: VerifyReport) -> None:
    """Every file matches the manifest again: it, and no record of corruption, says so."""
    write_manifest(report.directory, dataclasses.replace(report.manifest, verified_at=now_iso()))
    repairing_path(report.directory).unlink(missing_ok=True)
    corruption.clear_corruption(report.directory)
