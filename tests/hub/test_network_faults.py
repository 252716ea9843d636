"""Dropped connections and stalls are retried with Range requests; failures stay bounded."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from modeldeploy.hub import fetch
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.support.hubserver import HubServer, random_bytes

BIG = "model.safetensors"
SIZE = 4_000_000


@pytest.fixture
def big_repo(hub: HubServer) -> bytes:
    data = random_bytes(SIZE, seed=7)
    hub.add_repo("acme/big", {BIG: data, "config.json": b"{}"})
    return data


def test_dropped_connection_resumes_where_it_stopped(hub: HubServer, big_repo: bytes, dest: Path):
    hub.drop_connection(BIG, at_byte=1_500_000, times=2)

    fetch.fetch("acme/big", dest, endpoint=hub.endpoint, backoff_base=0.01)

    assert (dest / BIG).read_bytes() == big_repo
    ranges = [r.range for r in hub.downloads(BIG)]
    assert ranges[0] is None and ranges[1:] == ["bytes=1500000-", "bytes=1500000-"]
    assert hub.bytes_served(BIG) == SIZE  # nothing sent twice


def test_stall_is_detected_and_retried(hub: HubServer, big_repo: bytes, dest: Path):
    hub.stall(BIG, at_byte=1_000_000, seconds=5)
    started = time.monotonic()

    fetch.fetch("acme/big", dest, endpoint=hub.endpoint, stall_timeout=0.5, backoff_base=0.01)

    assert time.monotonic() - started < 4
    assert (dest / BIG).read_bytes() == big_repo
    assert [r.range for r in hub.downloads(BIG)][1:] == ["bytes=1000000-"]


def test_retries_are_bounded(hub: HubServer, big_repo: bytes, dest: Path):
    hub.drop_connection(BIG, at_byte=0, times=100)

    with pytest.raises(FetchError) as caught:
        fetch.fetch("acme/big", dest, endpoint=hub.endpoint, retries=3, backoff_base=0.01)

    assert caught.value.reason is FetchReason.NetworkError
    assert "giving up after 3 retries" in caught.value.message
    assert len(hub.downloads(BIG)) == 4
    assert not (dest / ".modeldeploy" / "manifest.json").exists()


def test_backoff_grows_exponentially(hub: HubServer, big_repo: bytes, dest: Path):
    hub.drop_connection(BIG, at_byte=0, times=3)

    fetch.fetch("acme/big", dest, endpoint=hub.endpoint, retries=3, backoff_base=0.2)

    # delays 0.2, 0.4, 0.8 times a jitter in [0.5, 1]: each gap at least its floor, and the
    # last clearly longer than the first (a constant delay would give equal gaps).
    starts = [r.at for r in hub.downloads(BIG)]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 3
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4
    assert gaps[2] - gaps[0] >= 0.1
