"""Download one file into our own partial file, hashing as bytes arrive, resuming by Range.

The partial lives at `DIR/.modeldeploy/partial/<path>.part` next to a sidecar naming what it
is a prefix of (repo, commit, path, size, expected hash). A later process resumes it only
when the sidecar matches, re-hashing the prefix first, so a resume costs a local read and
never trusts bytes it has not hashed. Only a file whose digest matches moves (rename) to its
place in DIR; a mismatch deletes the partial, so nothing that looks complete is left.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy.hub import console, hashing, paths, transfer, writeback
from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.layout import MANIFEST_DIR, PARTIAL_DIR
from modeldeploy.hub.progress import ProgressMeter
from modeldeploy.hub.remote import RemoteFile
from modeldeploy.hub.throttle import Throttle

CHUNK = 1024 * 1024
BACKOFF_CAP_SECONDS = 30.0


@dataclass
class TransferSettings:
    """What every file download of one fetch shares."""

    repo: str
    commit: str
    endpoint: str
    token: str | None
    cancel: threading.Event
    meter: ProgressMeter
    registry: transfer.SocketRegistry = field(default_factory=transfer.SocketRegistry)
    throttle: Throttle | None = None
    stall_timeout: float = 60.0
    retries: int = 5
    backoff_base: float = 0.5


def partial_root(directory: Path) -> Path:
    return directory / MANIFEST_DIR / PARTIAL_DIR


def partial_path(directory: Path, path: str) -> Path:
    return partial_root(directory) / f"{path}.part"


def sidecar_path(directory: Path, path: str) -> Path:
    return partial_root(directory) / f"{path}.part.json"


def partial_bytes(directory: Path, remote: RemoteFile) -> int:
    """Bytes of a partial that a resume would keep (used by the disk-space preflight)."""
    part = partial_path(directory, remote.path)
    return part.stat().st_size if part.is_file() else 0


def interrupted(path: str) -> FetchError:
    return FetchError(
        FetchReason.Interrupted,
        f"{path}: interrupted; the partial file is kept and the next fetch resumes it",
    )


class FileDownload:
    """The state of one file's download: where its bytes go and what they hashed to so far."""

    def __init__(self, remote: RemoteFile, *, directory: Path, settings: TransferSettings) -> None:
        self.remote = remote
        self.settings = settings
        self.directory = directory
        self.final = paths.target_in(directory, remote.path)
        self.part = partial_path(directory, remote.path)
        self.sidecar = sidecar_path(directory, remote.path)
        self.url = transfer.resolve_url(
            settings.endpoint, settings.repo, settings.commit, remote.path
        )
        self.offset = 0
        self.digests = self._new_digests()

    def _new_digests(self) -> hashing.ContentDigests:
        want_sha1 = self.remote.sha256 is None and self.remote.git_sha1 is not None
        return hashing.ContentDigests(size=self.remote.size, want_git_sha1=want_sha1)

    def _identity(self) -> dict[str, Any]:
        r, s = self.remote, self.settings
        return {
            "repo": s.repo,
            "commit": s.commit,
            "path": r.path,
            "size": r.size,
            "sha256": r.sha256,
            "gitSha1": r.git_sha1,
        }

    def run(self) -> str:
        """Download (or resume) and verify; return the sha256 of the file now in place."""
        resumed = self._resume()
        try:
            self._download_with_retries()
            return self._finish()
        except FetchError as exc:
            if exc.reason is not FetchReason.ChecksumMismatch or not resumed:
                raise
        # A resumed prefix may be what was wrong (say, a disk error): one clean try.
        self._discard()
        self._start_fresh()
        self._download_with_retries()
        return self._finish()

    def _resume(self) -> bool:
        """Keep a matching partial (re-hashing its prefix); return whether one was kept."""
        try:
            recorded = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = None
        size = self.part.stat().st_size if self.part.is_file() else -1
        if recorded != self._identity() or not 0 < size <= self.remote.size:
            self._discard()
            self._start_fresh()
            return False
        self.offset = hashing.feed_file(self.part, self.digests, limit=size)
        self.settings.meter.add_bytes(self.offset, moved=False)
        return True

    def _start_fresh(self) -> None:
        self.part.parent.mkdir(parents=True, exist_ok=True)
        self.sidecar.write_text(json.dumps(self._identity()), encoding="utf-8")
        self.part.write_bytes(b"")
        self.offset = 0
        self.digests = self._new_digests()

    def _discard(self) -> None:
        if self.offset:
            self.settings.meter.add_bytes(-self.offset, moved=False)
        self.offset = 0
        self.part.unlink(missing_ok=True)
        self.sidecar.unlink(missing_ok=True)

    def _download_with_retries(self) -> None:
        failures = 0
        while self.offset < self.remote.size:
            self._check_cancel()
            before = self.offset
            try:
                self._attempt()
                return
            except FetchError as exc:
                if not exc.retryable:
                    raise
                failures = 0 if self.offset > before else failures + 1
                if failures > self.settings.retries:
                    raise FetchError(
                        exc.reason,
                        f"{self.remote.path}: giving up after "
                        f"{console.counted(self.settings.retries, 'retry', 'retries')}: {exc}",
                    ) from exc
                self._backoff(failures)
        self._check_cancel()

    def _backoff(self, failures: int) -> None:
        """Exponential backoff with jitter, so many fetchers do not retry in lockstep."""
        delay = min(BACKOFF_CAP_SECONDS, self.settings.backoff_base * 2 ** max(failures - 1, 0))
        if self.settings.cancel.wait(delay * random.uniform(0.5, 1.0)):  # noqa: S311
            raise interrupted(self.remote.path)

    def _check_cancel(self) -> None:
        if self.settings.cancel.is_set():
            raise interrupted(self.remote.path)

    def _attempt(self) -> None:
        s = self.settings
        headers = transfer.request_headers(s.token)
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        response = transfer.open_url(
            self.url, headers=headers, timeout=s.stall_timeout, registry=s.registry
        )
        try:
            self._accept(response)
            self._stream(response)
        finally:
            response.close()

    def _accept(self, response: transfer.Response) -> None:
        """Check the response continues our prefix; restart from zero on a plain 200."""
        if response.status == 206:
            content_range = response.header("Content-Range") or ""
            if not content_range.startswith(f"bytes {self.offset}-"):
                raise FetchError(
                    FetchReason.NetworkError,
                    f"{self.remote.path}: server answered "
                    f"range {content_range!r} to a request from byte {self.offset}",
                )
        elif response.status == 200:
            if self.offset:
                self.settings.meter.add_bytes(-self.offset, moved=False)
                self.offset = 0
                self.digests = self._new_digests()
        else:
            raise FetchError(
                FetchReason.NetworkError, f"{self.remote.path}: unexpected HTTP {response.status}"
            )
        length = response.header("Content-Length")
        remaining = self.remote.size - self.offset
        if length is not None and int(length) != remaining:
            raise FetchError(
                FetchReason.ChecksumMismatch,
                f"{self.remote.path}: the server sends "
                f"{int(length) + self.offset} bytes but the listing says "
                f"{self.remote.size}",
            )

    def _stream(self, response: transfer.Response) -> None:
        s = self.settings
        chunk = s.throttle.chunk_size(CHUNK) if s.throttle else CHUNK
        view = memoryview(bytearray(chunk))
        with self.part.open("r+b", buffering=0) as out:
            out.seek(self.offset)
            out.truncate(self.offset)
            flusher = writeback.Writeback(out.fileno(), start=self.offset)
            try:
                while self.offset < self.remote.size:
                    count = self._read(response, view[: min(chunk, self.remote.size - self.offset)])
                    _write_all(out, view[:count])
                    self.digests.update(view[:count])
                    self.offset += count
                    flusher.wrote_up_to(self.offset)
                    s.meter.add_bytes(count)
                    self._pace(count)
            finally:
                os.fsync(out.fileno())  # what the manifest will vouch for is on disk

    def _read(self, response: transfer.Response, view: memoryview) -> int:
        path = self.remote.path
        try:
            count = _read_some(response.body, view)
        except TimeoutError as exc:
            self._check_cancel()
            raise FetchError(
                FetchReason.Stalled,
                f"{path}: no bytes for {self.settings.stall_timeout:g}s at byte {self.offset}",
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            self._check_cancel()
            raise FetchError(
                FetchReason.NetworkError,
                f"{path}: connection failed at byte {self.offset}: {type(exc).__name__}",
            ) from exc
        if not count:
            self._check_cancel()
            raise FetchError(
                FetchReason.NetworkError,
                f"{path}: connection closed at byte {self.offset} of {self.remote.size}",
            )
        return count

    def _pace(self, count: int) -> None:
        throttle = self.settings.throttle
        if throttle is not None:
            delay = throttle.delay_for(count)
            if delay and self.settings.cancel.wait(delay):
                raise interrupted(self.remote.path)
        self._check_cancel()

    def _finish(self) -> str:
        """Compare digests with the expected hash; move the file into place only if equal."""
        problem = mismatch(self.remote, self.digests)
        if problem:
            self._discard()
            raise FetchError(FetchReason.ChecksumMismatch, f"{self.remote.path}: {problem}")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        paths.target_in(self.directory, self.remote.path)  # again: links may have appeared
        os.replace(self.part, self.final)
        self.sidecar.unlink(missing_ok=True)
        return self.digests.sha256


def mismatch(remote: RemoteFile, digests: hashing.ContentDigests) -> str | None:
    """What is wrong with the bytes hashed into `digests`, or None when they are the expected."""
    if digests.length != remote.size:
        return f"size mismatch: expected {remote.size} bytes, got {digests.length}"
    if remote.sha256 is not None and digests.sha256 != remote.sha256:
        return f"sha256 mismatch: expected {remote.sha256}, got {digests.sha256}"
    if remote.sha256 is None and remote.git_sha1 is not None:
        actual = digests.git_sha1
        if actual != remote.git_sha1:
            return f"git blob sha1 mismatch: expected {remote.git_sha1}, got {actual}"
    return None


def _write_all(out: Any, view: memoryview) -> None:
    written = 0
    while written < len(view):
        written += out.write(view[written:])


def _read_some(body: http.client.HTTPResponse, view: memoryview) -> int:
    """Read what has arrived, up to len(view), in one socket read.

    `HTTPResponse.readinto` waits to fill the whole buffer, so a stall timeout would throw
    away the bytes already in it; one `readinto1` on the socket's reader keeps them. A
    chunked body (never sent for files by the hub) goes through the plain path.
    """
    reader = getattr(body, "fp", None)
    if reader is None or body.chunked or not hasattr(reader, "readinto1"):
        return body.readinto(view)
    count: int = reader.readinto1(view)
    return count
