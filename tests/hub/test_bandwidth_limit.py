"""`max_bytes_per_second` holds the average rate to the limit."""

from __future__ import annotations

import time
from pathlib import Path

from modeldeploy.hub import fetch
from tests.support.hubserver import HubServer, random_bytes


def test_rate_limit_slows_the_download(hub: HubServer, dest: Path):
    hub.add_repo("acme/slow", {"model.safetensors": random_bytes(1_500_000, seed=5)})
    started = time.monotonic()

    fetch.fetch("acme/slow", dest, endpoint=hub.endpoint, max_bytes_per_second=2_000_000)

    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 5
