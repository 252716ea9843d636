"""Faults the fake hub injects on demand, per repo file path (in any repo).

A mixin of `HubServer`: tests call the first group, the request handler asks the second.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from tests.support.hubserver.content import ENDPOINTS, HostedFile


@dataclass
class Fault:
    at_byte: int
    times: int
    seconds: float = 0.0


class Faults:
    """Pending faults; `_lock` guards the counters they use up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drops: dict[str, list[Fault]] = defaultdict(list)
        self._stalls: dict[str, list[Fault]] = defaultdict(list)
        self._wrong: set[str] = set()
        self._hidden: set[str] = set()
        self._claimed: dict[str, int] = {}

    # -- faults ----------------------------------------------------------------------------
    def drop_connection(self, path: str, *, at_byte: int, times: int = 1) -> None:
        """Close the connection when a response for `path` reaches file offset `at_byte`."""
        self._drops[path].append(Fault(at_byte, times))

    def stall(self, path: str, *, at_byte: int, seconds: float, times: int = 1) -> None:
        """Send nothing for `seconds` when a response for `path` reaches `at_byte`."""
        self._stalls[path].append(Fault(at_byte, times, seconds))

    def serve_wrong_bytes(self, path: str) -> None:
        """Serve corrupted bytes for `path` (with an ETag of those bytes, like a bad mirror)."""
        self._wrong.add(path)

    def hide_hashes(self, endpoint: str) -> None:
        """Leave hashes (oid, lfs) out of one of ENDPOINTS' answers."""
        assert endpoint in ENDPOINTS, endpoint
        self._hidden.add(endpoint)

    def claim_size(self, path: str, size: int) -> None:
        """Report `size` for `path` in listings (say, more than the disk holds)."""
        self._claimed[path] = size

    # -- asked by the handler ---------------------------------------------------------------
    def take_fault(self, kind: str, path: str, start: int, end: int) -> Fault | None:
        """The first pending fault for `path` that falls in [start, end), used up once."""
        faults = self._drops if kind == "drop" else self._stalls
        with self._lock:
            for fault in faults.get(path, []):
                if fault.times > 0 and start <= fault.at_byte < end:
                    fault.times -= 1
                    return fault
        return None

    def has_faults(self, path: str) -> bool:
        with self._lock:
            pending = (*self._drops.get(path, ()), *self._stalls.get(path, ()))
            return any(fault.times > 0 for fault in pending)

    def wrong(self, path: str) -> bool:
        return path in self._wrong

    def hidden(self, endpoint: str) -> bool:
        return endpoint in self._hidden

    def claimed_size(self, hosted: HostedFile) -> int:
        return self._claimed.get(hosted.path, hosted.size)
