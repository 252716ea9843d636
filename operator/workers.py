"""One worker task per ModelDeployment: level-triggered, coalescing, never a hot loop.

kopf delivers every watch event of a ModelDeployment and of its children; a handler only
`notify`s the owner's worker. The worker reconciles, then sleeps until the next event or
the poll interval (whichever comes first). Bursts of events collapse into one reconcile
(`DEBOUNCE_SECONDS`), errors back off exponentially (conflicts and transient API errors
retry; nothing ever crashes the operator), and a concurrency limit keeps 500 objects
from starting 500 reconciles at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from modeldeploy.operator import health, indexes, kube

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.2
BACKOFF_FIRST = 1.0
BACKOFF_CAP = 120.0
CONCURRENT_RECONCILES = 8

Reconcile = Callable[[indexes.Key], Awaitable[float]]


class Workers:
    """The set of per-object workers, keyed by (namespace, name)."""

    def __init__(self, reconcile: Reconcile) -> None:
        self._reconcile = reconcile
        self._tasks: dict[indexes.Key, asyncio.Task[None]] = {}
        self._wakes: dict[indexes.Key, asyncio.Event] = {}
        self._limit = asyncio.Semaphore(CONCURRENT_RECONCILES)

    def __len__(self) -> int:
        return len(self._tasks)

    def notify(self, key: indexes.Key) -> None:
        """Reconcile `key` soon (starting its worker if it has none)."""
        wake = self._wakes.setdefault(key, asyncio.Event())
        wake.set()
        if key not in self._tasks or self._tasks[key].done():
            self._tasks[key] = asyncio.create_task(
                self._run(key, wake), name=f"modeldeploy {key[0]}/{key[1]}"
            )

    def wake_if_known(self, key: indexes.Key) -> None:
        """A child changed: wake its owner's worker (children never start workers)."""
        if key in self._tasks:
            self._wakes[key].set()

    def wake_all(self) -> None:
        for wake in self._wakes.values():
            wake.set()

    async def forget(self, key: indexes.Key) -> None:
        task = self._tasks.pop(key, None)
        self._wakes.pop(key, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self) -> None:
        for key in list(self._tasks):
            await self.forget(key)

    async def _run(self, key: indexes.Key, wake: asyncio.Event) -> None:
        failures = 0
        while True:
            await asyncio.sleep(DEBOUNCE_SECONDS)
            wake.clear()
            delay = await self._once(key, failures)
            failures = failures + 1 if delay is None else 0
            if delay is None:
                delay = min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_CAP)
                await asyncio.sleep(delay)  # errors back off; events do not cut it short
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)

    async def _once(self, key: indexes.Key, failures: int) -> float | None:
        """One reconcile; its next interval, or None after an error (to back off)."""
        started = time.perf_counter()
        async with self._limit:
            try:
                delay = await self._reconcile(key)
            except kube.KubeError as exc:
                health.record(
                    outcome="transient" if exc.transient else "error",
                    seconds=time.perf_counter() - started,
                )
                log.warning("%s/%s: %s (attempt %d, will retry)", key[0], key[1], exc, failures + 1)
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                health.record(outcome="error", seconds=time.perf_counter() - started)
                # Never the exception's text (nor log.exception, which prints it): it may
                # quote a token. The frames say where it failed; the type says what.
                log.error(
                    "%s/%s: reconcile failed: %s\n%s",
                    key[0],
                    key[1],
                    _safe(exc),
                    "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
                )
                return None
        health.record(outcome="ok", seconds=time.perf_counter() - started)
        return delay


def _safe(exc: BaseException) -> Any:
    return type(exc).__name__
