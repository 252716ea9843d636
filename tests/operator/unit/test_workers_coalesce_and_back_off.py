"""Per-object workers: bursts collapse into one reconcile, errors back off, forget stops them."""

from __future__ import annotations

import asyncio

from modeldeploy.operator import kube, workers

KEY = ("ns", "tiny")


def test_a_burst_of_events_is_one_reconcile() -> None:
    calls: list[float] = []

    async def reconcile(key: tuple[str, str]) -> float:
        calls.append(asyncio.get_running_loop().time())
        return 60.0

    async def scenario() -> None:
        pool = workers.Workers(reconcile)
        for _ in range(20):
            pool.notify(KEY)
        await asyncio.sleep(workers.DEBOUNCE_SECONDS * 3)
        assert len(calls) == 1
        pool.wake_if_known(KEY)
        await asyncio.sleep(workers.DEBOUNCE_SECONDS * 3)
        assert len(calls) == 2
        pool.wake_if_known(("ns", "stranger"))  # children never start workers
        assert len(pool) == 1
        await pool.stop()
        assert len(pool) == 0

    asyncio.run(scenario())


def test_transient_errors_are_retried_after_a_backoff() -> None:
    outcomes: list[str] = []

    async def reconcile(key: tuple[str, str]) -> float:
        if not outcomes:
            outcomes.append("conflict")
            raise kube.KubeError("conflict", code=409, transient=True)
        outcomes.append("ok")
        return 60.0

    async def scenario() -> None:
        pool = workers.Workers(reconcile)
        pool.notify(KEY)
        await asyncio.sleep(workers.DEBOUNCE_SECONDS + 0.1)
        assert outcomes == ["conflict"]
        await asyncio.sleep(workers.BACKOFF_FIRST + workers.DEBOUNCE_SECONDS + 0.2)
        assert outcomes == ["conflict", "ok"]
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
        await asyncio.sleep(workers.DEBOUNCE_SECONDS * 2 + workers.BACKOFF_FIRST + 0.2)
        assert count == 2
        await pool.forget(KEY)
        assert len(pool) == 0

    asyncio.run(scenario())


def test_next_look_comes_after_the_returned_interval() -> None:
    calls = 0

    async def reconcile(key: tuple[str, str]) -> float:
        nonlocal calls
        calls += 1
        return 0.3

    async def scenario() -> None:
        pool = workers.Workers(reconcile)
        pool.notify(KEY)
        await asyncio.sleep(1.3)
        await pool.stop()

    asyncio.run(scenario())
    assert 2 <= calls <= 3
