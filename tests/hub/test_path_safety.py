"""Listed names that would land outside the directory are refused before any download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modeldeploy.hub import fetch, paths
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.support.hubserver import HubServer


@pytest.mark.parametrize(
    "name",
    [
        "../escape.json",
        "a/../../escape.json",
        "/etc/x.json",
        "a//b.json",
        ".modeldeploy/manifest.json",
        "C:\\x.json",
    ],
)
def test_unsafe_names_in_the_listing_are_refused(hub: HubServer, dest: Path, name: str):
    hub.add_repo("acme/evil", {"model.safetensors": b"\x00" * 2000, name: b"{}"})

    with pytest.raises(FetchError) as caught:
        fetch.fetch("acme/evil", dest, endpoint=hub.endpoint)

    assert caught.value.reason is FetchReason.UnsafePath
    assert hub.downloads() == []
    assert not (dest.parent / "escape.json").exists()


def test_a_symlink_in_the_directory_cannot_carry_a_write_outside(hub: HubServer, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "model"
    dest.mkdir()
    os.symlink(outside, dest / "sub")
    hub.add_repo("acme/linky", {"model.safetensors": b"\x00" * 2000, "sub/config.json": b"{}"})

    with pytest.raises(FetchError) as caught:
        fetch.fetch("acme/linky", dest, endpoint=hub.endpoint)

    assert caught.value.reason is FetchReason.UnsafePath
    assert list(outside.iterdir()) == []


def test_safe_nested_names_pass():
    assert paths.check_repo_path("a/b/c.json") == "a/b/c.json"
