"""Two fetchers on one directory: the second is refused (or waits) instead of corrupting it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from modeldeploy.hub import fetch, lock
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer


def test_second_fetcher_is_locked_out(hub: HubServer, model: ModelRepo, dest: Path):
    with lock.directory_lock(dest), pytest.raises(FetchError) as caught:
        fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    assert caught.value.reason is FetchReason.Locked
    assert hub.requests == []


def test_a_waiting_fetcher_proceeds_once_the_lock_is_released(
    hub: HubServer, model: ModelRepo, dest: Path
):
    results = []
    with lock.directory_lock(dest):
        waiter = threading.Thread(
            target=lambda: results.append(
                fetch.fetch(model.repo, dest, endpoint=hub.endpoint, lock_timeout=20)
            )
        )
        waiter.start()
        time.sleep(0.3)
        assert not results and hub.requests == []
    waiter.join(timeout=20)

    assert results and results[0].commit == model.commit
