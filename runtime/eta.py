"""How long until Ready: an estimate from the real progress and rate of the phases still ahead.

What a client is told before Ready (`Retry-After`, `/status` `eta`) comes from here, phase by
phase, each from the best measurement there is:

- Fetching: bytes left / the fetcher's download rate (its last 5 s), or the average rate since
  the phase began when that window shows a stall.
- Verifying: in the phase, its elapsed time extrapolated from its progress; ahead of it, a
  full re-hash (`--verify full`) is the weight bytes / this machine's sha256 rate (measured
  once at start), a quick check (sizes and headers) `QUICK_VERIFY_SECONDS`.
- Loading: bytes left / the rate the tensors are being read at (measured since the first
  byte), or `ASSUMED_READ_BYTES_PER_SECOND` before any byte; plus `LOAD_OVERHEAD_SECONDS`
  for the tokenizer and for building the model, whose durations have no byte count.
- WarmingUp: `TYPICAL_WARMUP_SECONDS` less the time it has already run (one forward pass is
  short, whatever the model; at least `MIN_PHASE_SECONDS` while it runs).

Each phase says whether its figure was `measured` (a rate or progress seen in this process),
`assumed` (one of the documented constants above), or `unknown`. An unknown phase (the
download's size before the hub has listed the files) makes the whole estimate unknown:
`seconds` is then None and `retry_after` is `UNKNOWN_RETRY_SECONDS`, a short "ask again",
not a guess dressed as a measurement.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.state import Snapshot, State, StateMachine
from modeldeploy.runtime_report import BEFORE_READY

ASSUMED_READ_BYTES_PER_SECOND = 500e6  # a network volume or a cold local disk
LOAD_OVERHEAD_SECONDS = 0.5  # tokenizer, config, building the model around the tensors
QUICK_VERIFY_SECONDS = 0.2  # sizes and safetensors headers: no byte is hashed
TYPICAL_WARMUP_SECONDS = 1.0  # one short generation (8 tokens by default)
MIN_PHASE_SECONDS = 0.2  # a phase that is running is never "done in 0 s"
UNKNOWN_RETRY_SECONDS = 2  # Retry-After while nothing can be measured yet
MIN_RATE_SPAN_SECONDS = 0.2  # a rate over a shorter span is noise
HASH_SAMPLE_BYTES = 8 * 2**20

LOADING_STATES = BEFORE_READY
_AHEAD = BEFORE_READY[1:]
Basis = Literal["measured", "assumed", "unknown"]


@dataclass(frozen=True)
class Phase:
    state: State
    seconds: float | None
    basis: Basis

    def to_json(self) -> dict[str, Any]:
        seconds = None if self.seconds is None else round(self.seconds, 3)
        return {"state": self.state.value, "seconds": seconds, "basis": self.basis}


@dataclass(frozen=True)
class Estimate:
    """Seconds until Ready (None: not known yet) and the phases it adds up."""

    seconds: float | None
    phases: tuple[Phase, ...]

    @property
    def retry_after(self) -> int:
        """Whole seconds for a `Retry-After` header: at least 1."""
        if self.seconds is None:
            return UNKNOWN_RETRY_SECONDS
        return max(1, math.ceil(self.seconds))

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "retryAfterSeconds": self.retry_after,
            "phases": [p.to_json() for p in self.phases],
        }


def sha256_bytes_per_second() -> float:
    """This machine's sha256 rate over an in-memory sample (a few milliseconds)."""
    sample = bytes(HASH_SAMPLE_BYTES)
    started = time.perf_counter()
    hashlib.sha256(sample).digest()
    return HASH_SAMPLE_BYTES / max(time.perf_counter() - started, 1e-6)


class Eta:
    """Follows the state machine (a subscriber) to measure the current phase's rate."""

    def __init__(
        self,
        machine: StateMachine,
        config: RuntimeConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._phase: State | None = None
        self._first: tuple[float, float] | None = None  # (time, amount) of the first sample
        self._local_bytes = 0
        self.hash_rate = sha256_bytes_per_second() if config.verify == "full" else None
        machine.subscribe(self._sample)

    def _sample(self, snap: Snapshot) -> None:
        amount = _amount(snap)
        with self._lock:
            if snap.state is not self._phase:
                self._phase, self._first = snap.state, None
            if self._first is None and amount > 0:
                self._first = (self._clock(), amount)

    def measured_rate(self, snap: Snapshot) -> float | None:
        """Amount per second in the current phase since its first progress, up to now."""
        with self._lock:
            first = self._first if snap.state is self._phase else None
        if first is None:
            return None
        span = self._clock() - first[0]
        moved = _amount(snap) - first[1]
        return moved / span if span >= MIN_RATE_SPAN_SECONDS and moved > 0 else None

    def estimate(self, snap: Snapshot, *, weight_bytes: int = 0) -> Estimate | None:
        """The time until Ready from `snap`; None when the runtime is not on its way there."""
        if snap.state not in LOADING_STATES:
            return None
        weights = weight_bytes or self._weight_bytes(snap)
        phases = tuple(self._phase_estimate(state, snap, weights) for state in self._ahead(snap))
        if any(p.seconds is None for p in phases):
            return Estimate(None, phases)
        return Estimate(sum(p.seconds or 0.0 for p in phases), phases)

    def _ahead(self, snap: Snapshot) -> list[State]:
        if snap.state is State.STARTING:
            states = list(_AHEAD if self.config.repo else _AHEAD[1:])
        else:
            states = list(_AHEAD[_AHEAD.index(snap.state) :])
        if not self.config.warmup and State.WARMING_UP in states:
            states.remove(State.WARMING_UP)
        return states

    def _phase_estimate(self, state: State, snap: Snapshot, weights: int) -> Phase:
        current = snap if snap.state is state else None
        if state is State.FETCHING:
            return self._fetching(current)
        if state is State.VERIFYING:
            return self._verifying(current, weights)
        if state is State.LOADING:
            return self._loading(current, weights)
        return self._warming_up(current)

    def _fetching(self, snap: Snapshot | None) -> Phase:
        detail = snap.detail if snap is not None else {}
        total, done = int(detail.get("bytesTotal") or 0), int(detail.get("bytesDone") or 0)
        if snap is None or total <= 0:
            return Phase(State.FETCHING, None, "unknown")  # the hub has not listed the files
        rate = float(detail.get("bytesPerSecond") or 0.0) or self.measured_rate(snap)
        if not rate:
            return Phase(State.FETCHING, None, "unknown")
        return Phase(State.FETCHING, max(total - done, 0) / rate, "measured")

    def _verifying(self, snap: Snapshot | None, weights: int) -> Phase:
        if snap is not None and snap.progress > 0:
            elapsed = self._elapsed(snap)
            if elapsed >= MIN_RATE_SPAN_SECONDS or snap.progress >= 1.0:
                left = elapsed * (1.0 - snap.progress) / snap.progress
                return Phase(State.VERIFYING, max(left, MIN_PHASE_SECONDS), "measured")
        if self.hash_rate is None:
            return Phase(State.VERIFYING, QUICK_VERIFY_SECONDS, "assumed")
        left = weights * (1.0 - (snap.progress if snap else 0.0))
        return Phase(State.VERIFYING, max(left / self.hash_rate, MIN_PHASE_SECONDS), "measured")

    def _loading(self, snap: Snapshot | None, weights: int) -> Phase:
        if snap is None:
            seconds = LOAD_OVERHEAD_SECONDS + weights / ASSUMED_READ_BYTES_PER_SECOND
            return Phase(State.LOADING, seconds, "assumed")
        total = int(snap.detail.get("bytesTotal") or weights)
        left = max(total - int(snap.detail.get("bytesDone") or 0), 0)
        rate = self.measured_rate(snap)
        basis: Basis = "measured" if rate else "assumed"
        seconds = left / (rate or ASSUMED_READ_BYTES_PER_SECOND) + LOAD_OVERHEAD_SECONDS
        return Phase(State.LOADING, max(seconds, MIN_PHASE_SECONDS), basis)

    def _warming_up(self, snap: Snapshot | None) -> Phase:
        elapsed = self._elapsed(snap) if snap is not None else 0.0
        seconds = max(TYPICAL_WARMUP_SECONDS - elapsed, MIN_PHASE_SECONDS)
        return Phase(State.WARMING_UP, seconds, "assumed")

    def _elapsed(self, snap: Snapshot) -> float:
        return max(self._clock() - snap.history[-1].monotonic, 0.0)

    def _weight_bytes(self, snap: Snapshot) -> int:
        """Bytes to load when the verified manifest has not said yet: the download's total
        (per-pod fetch), else the safetensors files in the model directory."""
        if snap.state is State.FETCHING or (snap.state is State.STARTING and self.config.repo):
            return int(snap.detail.get("bytesTotal") or 0)  # what is there may be replaced
        if not self._local_bytes:  # counted once the files are there
            self._local_bytes = _safetensors_bytes(self.config.model_dir)
        return self._local_bytes


def _amount(snap: Snapshot) -> float:
    """What the current phase counts: its bytes when it reports them, else its progress."""
    done = snap.detail.get("bytesDone")
    return float(done) if isinstance(done, int | float) else snap.progress


def _safetensors_bytes(directory: Path) -> int:
    try:
        return sum(p.stat().st_size for p in directory.rglob("*.safetensors") if p.is_file())
    except OSError:
        return 0
