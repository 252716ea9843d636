"""Expected hashes come from whichever listing endpoint carries them, never from the bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modeldeploy.hub import fetch, listing, manifest
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer

SHARD = "model-00001-of-00002.safetensors"


def _expected(model: ModelRepo) -> dict[str, str]:
    return {p: hashlib.sha256(d).hexdigest() for p, d in model.files.items()}


def test_listing_reports_lfs_sha256_and_git_blob_ids(hub: HubServer, model: ModelRepo):
    files = {
        f.path: f
        for f in listing.list_files(model.repo, model.commit, endpoint=hub.endpoint, token=None)
    }

    assert files[SHARD].lfs and files[SHARD].sha256 == _expected(model)[SHARD]
    small = files["config.json"]
    assert not small.lfs and small.sha256 is None
    assert small.git_sha1 == hub.file(model.repo, "config.json").git_sha1


@pytest.mark.parametrize(
    "hidden", [("tree",), ("tree", "paths-info"), ("paths-info", "model-info")]
)
def test_hashes_hidden_from_some_endpoints_are_found_in_others(
    hub: HubServer, model: ModelRepo, dest: Path, hidden: tuple[str, ...]
):
    for endpoint in hidden:
        hub.hide_hashes(endpoint)

    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    recorded = {f.path: f.sha256 for f in manifest.read_manifest(dest).files}
    assert recorded == _expected(model)


def test_no_hash_anywhere_fails_closed(hub: HubServer, model: ModelRepo, dest: Path):
    for endpoint in ("tree", "paths-info", "model-info"):
        hub.hide_hashes(endpoint)

    with pytest.raises(FetchError) as caught:
        fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    assert caught.value.reason is FetchReason.NoExpectedHash
    assert SHARD in caught.value.message
    assert hub.downloads() == []


def test_missing_hashes_can_be_allowed_and_are_recorded(
    hub: HubServer, model: ModelRepo, dest: Path
):
    for endpoint in ("tree", "paths-info", "model-info"):
        hub.hide_hashes(endpoint)

    fetch.fetch(
        model.repo,
        dest,
        endpoint=hub.endpoint,
        allow_missing_hash=True,
        pins={SHARD: _expected(model)[SHARD]},
    )

    written = manifest.read_manifest(dest)
    assert SHARD not in written.extra["unverifiedFiles"]
    assert "config.json" in written.extra["unverifiedFiles"]


def test_served_etag_is_never_the_expected_hash(hub: HubServer, model: ModelRepo, dest: Path):
    """A mirror serving wrong bytes reports their hash as ETag; the listing still wins."""
    hub.hide_hashes("tree")
    hub.serve_wrong_bytes(SHARD)

    with pytest.raises(FetchError) as caught:
        fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    assert caught.value.reason is FetchReason.ChecksumMismatch
