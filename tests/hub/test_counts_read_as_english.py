"""Counts in messages agree with their nouns: `1 file`, never `1 files`."""

from __future__ import annotations

from pathlib import Path

from modeldeploy.hub import console, fetch, verify
from tests.support.hubserver import HubServer


def test_counted_uses_the_singular_for_one() -> None:
    assert console.counted(1, "file") == "1 file"
    assert [console.counted(n, "replica") for n in (0, 2)] == ["0 replicas", "2 replicas"]
    assert console.counted(1, "retry", "retries") == "1 retry"
    assert console.counted(3, "retry", "retries") == "3 retries"


def test_a_verified_one_file_model_is_one_file(hub: HubServer, dest: Path) -> None:
    hub.add_repo("acme/one", {"config.json": b"{}"})
    fetch.fetch("acme/one", dest, endpoint=hub.endpoint)
    assert ": 1 file, " in verify.verify_directory(dest, full=False).summary()
