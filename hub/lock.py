"""One fetcher per directory: an advisory lock on `DIR/.modeldeploy/lock`.

flock(2) is released by the kernel when the process dies, so a killed fetcher never leaves
a stale lock behind. Two fetchers of the same directory would otherwise write the same
partial files at once. Fetch, repair and eviction of one model directory all take it.

A cache root has one too, `ROOT/.modeldeploy/lock` (`root_lock`): whoever changes the usage
file, or removes a model directory, holds it for a moment, so that marking a model in use and
removing it never interleave.

Two details make the lock safe to share with an inventory and with eviction:

* `is_held` tells whether someone holds a directory's lock by trying it for an instant, so a
  fetcher that tries at that very instant waits `INSPECTION_GRACE` before it gives up.
* Eviction renames a locked directory away. A fetcher that was waiting for that lock then
  holds the lock of a directory that is gone; it notices (the path no longer names the file it
  locked) and takes the lock of the directory now at that path instead.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.layout import MANIFEST_DIR

LOCK_NAME = "lock"
INSPECTION_GRACE = 0.05
ROOT_LOCK_TIMEOUT = 60.0
_POLL = 0.02


def lock_path(directory: Path) -> Path:
    return directory / MANIFEST_DIR / LOCK_NAME


@contextmanager
def directory_lock(directory: Path, *, timeout: float = 0.0) -> Iterator[None]:
    """Hold the directory's lock; wait up to `timeout` seconds for it, then raise Locked."""

    def busy(holder: str) -> str:
        return f"{directory}: another fetcher (pid {holder}) is working on this directory"

    with _held(lock_path(directory), timeout=max(timeout, INSPECTION_GRACE), busy=busy):
        yield


@contextmanager
def root_lock(root: Path, *, timeout: float = ROOT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold a cache root's lock (`ROOT/.modeldeploy/lock`), waiting up to `timeout` seconds."""

    def busy(holder: str) -> str:
        return f"{root}: the cache root's lock is held by pid {holder} for more than {timeout}s"

    with _held(lock_path(root), timeout=timeout, busy=busy):
        yield


def is_held(directory: Path) -> bool:
    """Whether a live process holds `directory`'s lock. Works on a read-only volume."""
    path = lock_path(directory)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        fd = os.open(path, os.O_RDONLY)  # flock needs no write access
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the flock, if we took it
    return False


@contextmanager
def _held(path: Path, *, timeout: float, busy: Callable[[str], str]) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(fd, path=path, deadline=deadline, busy=busy)
        except BaseException:
            os.close(fd)
            raise
        if _still_at(fd, path):
            break
        os.close(fd)  # the directory was renamed away (evicted) while we waited: again
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _still_at(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _acquire(fd: int, *, path: Path, deadline: float, busy: Callable[[str], str]) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise FetchError(FetchReason.Locked, busy(_holder(path))) from None
            time.sleep(_POLL)


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"
