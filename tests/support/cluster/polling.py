"""Waiting for the cluster to converge: controllers, the scheduler and kwok act asynchronously."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    observe: Callable[[], T], accept: Callable[[T], bool], *, what: str, timeout: float = 30.0
) -> T:
    """Observe until `accept` holds; on timeout fail with the last observation in the message.

    The last observation is what makes a failure readable (the pod's phase, the node's labels)
    instead of a bare "timed out".
    """
    deadline = time.monotonic() + timeout
    while True:
        seen = observe()
        if accept(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}; last: {seen!r}"
            )
        time.sleep(0.25)
