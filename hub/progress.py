"""Progress of a fetch or verify, as events for people (a bar) and machines (JSON lines).

The operator parses `--progress json` lines from the fetch Job's log and copies them into
`status.download`, so `ProgressEvent.to_json()` keys are part of the contract.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Phase = Literal["resolving", "downloading", "verifying", "done"]

# How far back the speed is measured: long enough to smooth bursts, short enough to follow
# a changing link.
RATE_WINDOW_SECONDS = 5.0


@dataclass(frozen=True)
class ProgressEvent:
    phase: Phase
    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0
    bytes_per_second: float = 0.0
    eta_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.phase,
            "bytesDone": self.bytes_done,
            "bytesTotal": self.bytes_total,
            "filesDone": self.files_done,
            "filesTotal": self.files_total,
            "bytesPerSecond": round(self.bytes_per_second, 1),
            "etaSeconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            **self.extra,
        }


ProgressCallback = Callable[[ProgressEvent], None]


class ProgressMeter:
    """Thread-safe counters that download and hash workers bump, turned into events.

    `bytes_done` counts bytes known good on disk (resumed prefixes included), while the
    speed counts only bytes moved in this run, so the ETA stays honest after a resume.
    """

    def __init__(self, *, on_progress: ProgressCallback | None, interval: float = 0.5) -> None:
        self._on_progress = on_progress
        self._interval = interval
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()
        self._moved = 0
        self._last_emit = 0.0
        self.phase: Phase = "resolving"
        self.bytes_done = 0
        self.bytes_total = 0
        self.files_done = 0
        self.files_total = 0

    def start(
        self, phase: Phase, *, bytes_total: int, files_total: int, bytes_done: int = 0
    ) -> None:
        with self._lock:
            self.phase = phase
            self.bytes_total = bytes_total
            self.files_total = files_total
            self.bytes_done = bytes_done
            self.files_done = 0
        self.emit(force=True)

    def add_bytes(self, count: int, *, moved: bool = True) -> None:
        with self._lock:
            self.bytes_done += count
            if moved:
                self._moved += count
        self.emit()

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1
        self.emit(force=True)

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, self._moved))
            while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_SECONDS:
                self._samples.popleft()
            first_time, first_moved = self._samples[0]
            span = now - first_time
            return (self._moved - first_moved) / span if span > 0.05 else 0.0

    def snapshot(self, *, phase: Phase | None = None, **extra: Any) -> ProgressEvent:
        speed = self.rate()
        with self._lock:
            remaining = max(self.bytes_total - self.bytes_done, 0)
            eta = remaining / speed if speed > 0 else (0.0 if remaining == 0 else None)
            return ProgressEvent(
                phase=phase or self.phase,
                bytes_done=self.bytes_done,
                bytes_total=self.bytes_total,
                files_done=self.files_done,
                files_total=self.files_total,
                bytes_per_second=speed,
                eta_seconds=eta,
                extra=dict(extra),
            )

    @property
    def moved(self) -> int:
        """Bytes that crossed the network in this run (resumed and present files excluded)."""
        with self._lock:
            return self._moved

    def emit(self, *, force: bool = False, phase: Phase | None = None, **extra: Any) -> None:
        """Send an event, at most one per interval unless forced (phase and file changes)."""
        if self._on_progress is None:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_emit < self._interval:
                return
            self._last_emit = now
        with self._emit_lock:  # one line at a time, whichever worker reports
            self._on_progress(self.snapshot(phase=phase, **extra))
