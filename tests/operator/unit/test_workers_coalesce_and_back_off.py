"""Per-object workers: bursts collapse into one reconcile, errors back off, forget stops them.

No assertion depends on how fast the machine is: the tests wait for an outcome (with a
generous limit) instead of sleeping a fixed time and counting; where they check that
something does NOT happen, a slower machine can only make it less likely to happen.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from modeldeploy.operator import kube, workers

KEY = ("ns", "tiny")
LIMIT = 10.0


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "DEBOUNCE_SECONDS", 0.05)
    monkeypatch.setattr(workers, "BACKOFF_FIRST", 0.1)


async def _until(check: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIMIT
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_burst_of_events_is_one_reconcile() -> None:
    calls: list[float] = []

    async def reconcile(key: tuple[str, str]) -> float:
        calls.append(asyncio.get_running_loop().time())
        return 60.0

    async def scenario() -> None:
        pool = workers.Workers(reconcile)
        for _ in range(20):
            pool.notify(KEY)
        await _until(lambda: len(calls) == 1)
        await asyncio.sleep(workers.DEBOUNCE_SECONDS * 3)
        assert len(calls) == 1  # the burst collapsed; the next look is 60 s away
        pool.wake_if_known(KEY)
        await _until(lambda: len(calls) == 2)
        pool.wake_if_known(("ns", "stranger"))  # children never start workers
        assert len(pool) == 1
        await pool.stop()
        assert len(pool) == 0

    asyncio.run(scenario())


def test_transient_errors_are_retried_after_a_backoff() -> None:
    outcomes: list[tuple[str, float]] = []

    async def reconcile(key: tuple[str, str]) -> float:
        now = asyncio.get_running_loop().time()
        if not outcomes:
            outcomes.append(("conflict", now))
            raise kube.KubeError("conflict", code=409, transient=True)
        outcomes.append(("ok", now))
        return 60.0

    async def scenario() -> None:
        pool = workers.Workers(reconcile)
        pool.notify(KEY)
        await _until(lambda: len(outcomes) == 2)
        assert [o for o, _ in outcomes] == ["conflict", "ok"]
        assert outcomes[1][1] - outcomes[0][1] >= workers.BACKOFF_FIRST
        await pool.stop()

    asyncio.run(scenario())


def test_unexpected_errors_never_kill_the_worker() -> None:
    count = 0

    async def reconcile(key: tuple[str, str]) -> float:
        nonlocal count
        count += 1
        raise RuntimeError("a bug")

    async def scenario() -> None:
        pool = workers.Workers(reconcile)
        pool.notify(KEY)
        await _until(lambda: count >= 2)
        await pool.forget(KEY)
        assert len(pool) == 0

    asyncio.run(scenario())


def test_next_look_comes_after_the_returned_interval() -> None:
    times: list[float] = []

    async def reconcile(key: tuple[str, str]) -> float:
        times.append(asyncio.get_running_loop().time())
        return 0.2

    async def scenario() -> None:
        pool = workers.Workers(reconcile)
        pool.notify(KEY)
        await _until(lambda: len(times) >= 3)  # no event: the interval alone brings it back
        await pool.stop()

    asyncio.run(scenario())
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(times))
