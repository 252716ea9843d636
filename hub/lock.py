"""One fetcher per directory: an advisory lock on `DIR/.modeldeploy/lock`.

flock(2) is released by the kernel when the process dies, so a killed fetcher never leaves
a stale lock behind. Two fetchers of the same directory would otherwise write the same
partial files at once.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.layout import MANIFEST_DIR

LOCK_NAME = "lock"


def lock_path(directory: Path) -> Path:
    return directory / MANIFEST_DIR / LOCK_NAME


@contextmanager
def directory_lock(directory: Path, *, timeout: float = 0.0) -> Iterator[None]:
    """Hold the directory's lock; wait up to `timeout` seconds for it, then raise Locked."""
    path = lock_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path=path, directory=directory, timeout=timeout)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _acquire(fd: int, *, path: Path, directory: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = path.read_text(encoding="utf-8").strip() or "unknown"
                raise FetchError(
                    FetchReason.Locked,
                    f"{directory}: another fetcher (pid {holder}) is working on this directory",
                ) from None
            time.sleep(0.1)
