"""Start writing downloaded bytes to disk early, so the final fsync has little left to do.

Every verified file is fsynced before the manifest claims it, or a power cut could leave a
manifest vouching for bytes that never reached the disk. Done only at the end, that flush
is a pause of (size / disk speed). Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)` starts
writeback of a range without waiting, overlapping the flush with the download. Elsewhere,
or if the call is unavailable, this does nothing and the final fsync does all the work.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache

SYNC_FILE_RANGE_WRITE = 2
EVERY_BYTES = 32 * 1024 * 1024


@cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


class Writeback:
    """Tracks how much of one open file has been handed to the disk."""

    def __init__(self, fd: int, *, start: int) -> None:
        self.fd = fd
        self.flushed = start
        self._call = _sync_file_range()

    def wrote_up_to(self, offset: int) -> None:
        if self._call is None or offset - self.flushed < EVERY_BYTES:
            return
        self._call(self.fd, self.flushed, offset - self.flushed, SYNC_FILE_RANGE_WRITE)
        self.flushed = offset
