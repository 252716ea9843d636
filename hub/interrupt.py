"""Run a blocking fetch so that Ctrl-C and SIGTERM stop it cleanly.

The work runs in a worker thread while the main thread waits; SIGINT/SIGTERM set the
cancel event the work watches, so it unwinds through its own cleanup (partials kept,
lock released) and raises FetchError(Interrupted), instead of dying mid-write.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

T = TypeVar("T")


def run_cancellable(work: Callable[[threading.Event], T]) -> T:
    cancel = threading.Event()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work(cancel))
        except BaseException as exc:
            failure.append(exc)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        cancel.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    worker = threading.Thread(target=target, name="fetch-main", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure:
        raise failure[0]
    return outcome[0]
