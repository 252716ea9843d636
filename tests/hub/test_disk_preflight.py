"""A fetch that cannot fit fails before downloading anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modeldeploy.hub import fetch
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.support.hubserver import HubServer


def test_not_enough_space_fails_before_any_download(hub: HubServer, dest: Path):
    hub.add_repo("acme/huge", {"model.safetensors": b"\x00" * 4096, "config.json": b"{}"})
    dest.mkdir()
    free = shutil.disk_usage(dest).free
    hub.claim_size("model.safetensors", free + 10**9)  # the listing says it is bigger than the disk

    with pytest.raises(FetchError) as caught:
        fetch.fetch("acme/huge", dest, endpoint=hub.endpoint)

    assert caught.value.reason is FetchReason.InsufficientDisk
    assert str(dest) in caught.value.message
    assert hub.downloads() == []
