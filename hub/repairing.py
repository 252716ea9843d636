"""Re-download the files a full verify found bad, checked against the manifest's hashes.

Split from `verify` so that `modeldeploy verify` without `--repair` never imports the
download machinery. While files change, the manifest waits under `manifest.repairing.json`:
nothing takes the directory for complete, yet a repair that fails (network down, killed)
leaves the record of expected hashes for the next `--repair`. It goes back to
`manifest.json` (with a new verifiedAt) only once every file matches it again.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from modeldeploy.hub import download, engine, hubapi, lock, paths
from modeldeploy.hub.fetch import now_iso
from modeldeploy.hub.manifest import manifest_path, repairing_path, write_manifest
from modeldeploy.hub.progress import ProgressEvent, ProgressMeter
from modeldeploy.hub.remote import RemoteFile
from modeldeploy.hub.verify import VerifyReport


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
    write_manifest(report.directory, dataclasses.replace(report.manifest, verified_at=now_iso()))
    repairing_path(report.directory).unlink(missing_ok=True)
