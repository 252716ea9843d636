"""Re-download the files a full verify found bad, checked against the manifest's hashes.

Split from `verify` so that `modeldeploy verify` without `--repair` never imports the
download machinery. The manifest is removed while files change and written back (with a
new verifiedAt) only once every file matches it again.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

from modeldeploy.hub import download, engine, hubapi, lock
from modeldeploy.hub.fetch import now_iso
from modeldeploy.hub.manifest import manifest_path, write_manifest
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
        manifest_path(directory).unlink(missing_ok=True)
        for remote in files:
            (directory / remote.path).unlink(missing_ok=True)
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
        write_manifest(directory, dataclasses.replace(manifest, verified_at=now_iso()))
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
