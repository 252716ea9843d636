"""How fetch and verify progress reaches a person or a program.

`json`: one JSON object per line on stdout (the operator parses the fetch Job's log), the
last one `done` or `error`. `auto`: a live one-line bar on stderr when it is a terminal;
otherwise quiet until the final summary. `none`: only the final summary.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Literal, TextIO

from modeldeploy.hub.progress import ProgressEvent

Mode = Literal["auto", "json", "none"]


def human_size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000:
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1000
    return f"{count:.2f} TB"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 file`, `3 files`, `2 retries` (with `plural` for nouns not made plural by an s)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressPrinter:
    """A thread-safe `on_progress` callback for the chosen mode."""

    def __init__(self, mode: Mode, *, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.mode = mode
        self.live = mode == "auto" and self.err.isatty()
        self._lock = threading.Lock()
        self._drawn = False

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if self.mode == "json":
                self._line(event.to_json())
            elif self.live and event.phase != "done":
                self._draw(event)

    def _line(self, payload: dict[str, Any]) -> None:
        self.out.write(json.dumps(payload, separators=(",", ":")) + "\n")
        self.out.flush()

    def _draw(self, event: ProgressEvent) -> None:
        total = event.bytes_total or 1
        share = min(event.bytes_done / total, 1.0) if event.bytes_total else 0.0
        bar = "#" * int(share * 30)
        text = (
            f"\r{event.phase:<11} [{bar:<30}] {share * 100:5.1f}% "
            f"{human_size(event.bytes_done)}/{human_size(event.bytes_total)} "
            f"{human_size(event.bytes_per_second)}/s ETA {_eta(event.eta_seconds)} "
            f"files {event.files_done}/{event.files_total}"
        )
        self.err.write(text.ljust(110)[:110])
        self.err.flush()
        self._drawn = True

    def finish(self, summary: str) -> None:
        """The final human line (not in json mode, whose last event already says it all)."""
        with self._lock:
            if self._drawn:
                self.err.write("\r" + " " * 110 + "\r")
                self.err.flush()
            if self.mode != "json":
                self.out.write(summary + "\n")
                self.out.flush()

    def error(self, reason: str, message: str) -> None:
        """In json mode the last line says why it failed (stderr gets the usual one line)."""
        with self._lock:
            if self._drawn:
                self.err.write("\n")
            if self.mode == "json":
                self._line({"event": "error", "reason": reason, "message": message})
