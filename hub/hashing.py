"""Digests of file contents: sha256 (LFS files, the manifest) and git blob sha1 (small files).

The hub identifies a small, non-LFS file by its git blob id: sha1 over `blob <size>\\0` then
the bytes. We hash both while bytes stream in, so one pass proves the file against whatever
the hub gave and yields the sha256 the manifest records. hashlib releases the GIL on large
buffers, so hashing in worker threads runs on all cores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

# Big reads keep the per-call overhead negligible and let hashlib drop the GIL.
READ_CHUNK = 8 * 1024 * 1024


class ContentDigests:
    """sha256 always; the git blob sha1 too when the expected hash is one."""

    def __init__(self, *, size: int, want_git_sha1: bool) -> None:
        self._sha256 = hashlib.sha256()
        self._sha1 = (
            hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False) if want_git_sha1 else None
        )
        self.length = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        self.length += len(data)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def git_sha1(self) -> str | None:
        return None if self._sha1 is None else self._sha1.hexdigest()


def feed_file(
    path: Path,
    digests: ContentDigests,
    *,
    limit: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Hash the first `limit` bytes of `path` (all when None) into `digests`; return the count.

    `on_chunk(count)` after every read lets a caller report progress while large files hash.
    """
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    done = 0
    with path.open("rb", buffering=0) as handle:
        while limit is None or done < limit:
            want = READ_CHUNK if limit is None else min(READ_CHUNK, limit - done)
            count = handle.readinto(view[:want])
            if not count:
                break
            digests.update(view[:count])
            done += count
            if on_chunk is not None:
                on_chunk(count)
    return done
