"""Files download in parallel, never more at once than `max_workers`."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.hub import fetch
from tests.support.hubserver import HubServer, random_bytes


@pytest.mark.parametrize("workers", [1, 3])
def test_concurrency_is_bounded_by_max_workers(hub: HubServer, dest: Path, workers: int):
    files = {f"model-{i}.safetensors": random_bytes(200_000, seed=i) for i in range(6)}
    hub.add_repo("acme/shards", files)
    for name in files:
        hub.stall(name, at_byte=100_000, seconds=0.2)  # keep each transfer open a while

    fetch.fetch("acme/shards", dest, endpoint=hub.endpoint, max_workers=workers)

    assert hub.max_concurrent_transfers == workers
    assert all((dest / name).read_bytes() == data for name, data in files.items())
