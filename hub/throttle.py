"""A bandwidth limit shared by all download workers (`--max-bytes-per-second`)."""

from __future__ import annotations

import threading
import time

# Reads may run ahead of the schedule by this much; it smooths timer jitter without letting
# the average rate exceed the limit by more than a fraction of a second's worth.
SLACK_SECONDS = 0.05


class Throttle:
    """Reserve transmission time for each chunk; sleep until the reservation is due."""

    def __init__(self, bytes_per_second: float) -> None:
        if bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        self.bytes_per_second = bytes_per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def chunk_size(self, default: int) -> int:
        """Read in pieces of ~1/8 s at the limit so the rate stays smooth."""
        return max(16 * 1024, min(default, int(self.bytes_per_second / 8)))

    def delay_for(self, count: int) -> float:
        """Account for `count` bytes just read; return how long to wait before the next read."""
        with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now - SLACK_SECONDS) + count / self.bytes_per_second
            return max(0.0, self._next - now - SLACK_SECONDS)
