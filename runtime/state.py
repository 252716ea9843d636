"""The runtime's state machine: the one source every probe, `/status` and metric reads.

States (strings in JSON, binding): Starting → (Fetching → Verifying) → Loading → WarmingUp →
Ready; Draining; Failed with a typed reason (`State` and `Reason` live in
`modeldeploy.runtime_report`, the vocabulary the operator reads them by; re-exported here). Why
explicit: the bug this project exists to prevent is a pod that says Ready while its weights are
not in memory. So the legal moves are written down in `TRANSITIONS`, and any other move raises
`IllegalTransitionError` — a bug in the runtime, never something to paper over.

Thread-safety: the loader thread moves the machine while the event loop reads it; one lock
guards every field, and `snapshot()` hands out an immutable copy. Subscribers (the SSE stream,
metrics) are called after every state or progress change, outside the lock, from whichever
thread made the change; they must be quick and must not call back into a mutating method.

Progress is the fraction (0-1) of the *current phase* that is done (bytes fetched, bytes
loaded, ...). Within one phase it never goes backwards: a decrease raises, so a loader that
miscounts is caught by the tests rather than shown to users.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modeldeploy.runtime_report import ErrorDocument, Reason, State

__all__ = [
    "TRANSITIONS",
    "Failure",
    "IllegalTransitionError",
    "Reason",
    "Snapshot",
    "State",
    "StateMachine",
    "Subscriber",
    "Transition",
]

log = logging.getLogger("modeldeploy.runtime")

_ANY_LIVE = (State.DRAINING, State.FAILED)
TRANSITIONS: dict[State, frozenset[State]] = {
    State.STARTING: frozenset({State.FETCHING, State.VERIFYING, State.LOADING, *_ANY_LIVE}),
    State.FETCHING: frozenset({State.VERIFYING, *_ANY_LIVE}),
    State.VERIFYING: frozenset({State.LOADING, *_ANY_LIVE}),
    State.LOADING: frozenset({State.WARMING_UP, State.READY, *_ANY_LIVE}),
    State.WARMING_UP: frozenset({State.READY, *_ANY_LIVE}),
    State.READY: frozenset(_ANY_LIVE),
    State.DRAINING: frozenset({State.FAILED}),
    State.FAILED: frozenset(),
}


class IllegalTransitionError(RuntimeError):
    """A move the state machine does not allow: a bug in the runtime."""


@dataclass(frozen=True)
class Transition:
    state: State
    at: datetime
    monotonic: float
    reason: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True)
class Failure:
    reason: str
    message: str

    def to_json(self) -> ErrorDocument:
        return {"reason": self.reason, "message": self.message}


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of the machine at one instant."""

    state: State
    progress: float
    detail: dict[str, Any]
    history: tuple[Transition, ...]
    error: Failure | None
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        return self.error.reason if self.error else self.history[-1].reason


Subscriber = Callable[[Snapshot], None]


class StateMachine:
    """Thread-safe, validated state with history, progress and change subscribers."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        first = Transition(State.STARTING, datetime.now(UTC), clock(), reason="ProcessStarted")
        self._history: list[Transition] = [first]
        self._progress = 0.0
        self._detail: dict[str, Any] = {}
        self._error: Failure | None = None
        self._durations: dict[str, float] = {}
        self._subscribers: list[Subscriber] = []

    @property
    def state(self) -> State:
        with self._lock:
            return self._history[-1].state

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber(snapshot)` after every change; returns the unsubscribe function."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def transition(self, target: State, *, reason: str | None = None, message: str = "") -> None:
        """Move to `target`; raise IllegalTransitionError when the move is not allowed."""
        with self._lock:
            self._move(target, reason=reason, message=message or None)
        self._notify()

    def fail(self, reason: str, message: str) -> None:
        """Move to Failed with a typed reason; the message names the file or device at fault."""
        with self._lock:
            self._error = Failure(reason=reason, message=message)
            self._move(State.FAILED, reason=reason, message=message)
        self._notify()

    def fail_if_live(self, reason: str, message: str) -> bool:
        """Fail unless already Failed (a fault seen twice is reported once); True if it moved."""
        with self._lock:
            if self._history[-1].state is State.FAILED:
                return False
            self._error = Failure(reason=reason, message=message)
            self._move(State.FAILED, reason=reason, message=message)
        self._notify()
        return True

    def drain(self, *, reason: str = "SIGTERM") -> bool:
        """Enter Draining from any live state; False when already Draining or Failed."""
        with self._lock:
            if self._history[-1].state in (State.DRAINING, State.FAILED):
                return False
            self._move(State.DRAINING, reason=reason, message=None)
        self._notify()
        return True

    def set_progress(self, fraction: float, **detail: Any) -> None:
        """Report progress of the current phase; it may only grow (a decrease is a bug)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress {fraction!r} is outside 0..1")
        with self._lock:
            if fraction < self._progress:
                state = self._history[-1].state
                raise ValueError(f"progress went back in {state}: {self._progress} -> {fraction}")
            self._progress = fraction
            self._detail.update(detail)
        self._notify()

    def raise_progress(self, fraction: float, **detail: Any) -> None:
        """Progress from reporters that may repeat or reorder (several worker threads): the
        shown value is the highest seen in this phase, so it still never goes backwards."""
        with self._lock:
            self._progress = max(self._progress, min(max(fraction, 0.0), 1.0))
            self._detail.update(detail)
        self._notify()

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot_locked()

    def _move(self, target: State, *, reason: str | None, message: str | None) -> None:
        current = self._history[-1]
        if target not in TRANSITIONS[current.state]:
            raise IllegalTransitionError(f"{current.state} -> {target} is not a legal transition")
        now = self._clock()
        self._durations[current.state.value] = (
            self._durations.get(current.state.value, 0.0) + now - current.monotonic
        )
        self._history.append(Transition(target, datetime.now(UTC), now, reason, message))
        if target is State.READY:
            self._progress = 1.0
        elif target is not State.DRAINING and target is not State.FAILED:
            self._progress = 0.0
            self._detail = {}

    def _snapshot_locked(self) -> Snapshot:
        return Snapshot(
            state=self._history[-1].state,
            progress=self._progress,
            detail=dict(self._detail),
            history=tuple(self._history),
            error=self._error,
            durations=dict(self._durations),
        )

    def _notify(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
            snap = self._snapshot_locked()
        for subscriber in subscribers:
            try:
                subscriber(snap)
            except Exception:  # a broken listener must not break the state machine
                log.exception("state subscriber %r failed", subscriber)
