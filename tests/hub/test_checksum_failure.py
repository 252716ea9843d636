"""Wrong bytes fail with the file, expected and actual digests named, and leave no manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modeldeploy.hub import fetch, manifest
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer

SHARD = "model-00001-of-00002.safetensors"


def test_wrong_lfs_bytes_fail_naming_the_digests(hub: HubServer, model: ModelRepo, dest: Path):
    hub.serve_wrong_bytes(SHARD)

    with pytest.raises(FetchError) as caught:
        fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    error = caught.value
    expected = hashlib.sha256(model.files[SHARD]).hexdigest()
    assert error.reason is FetchReason.ChecksumMismatch
    assert SHARD in error.message and expected in error.message
    assert not manifest.manifest_path(dest).exists()
    assert not (dest / SHARD).exists()
    assert not list(dest.rglob(f"{SHARD}*"))  # no partial that a later run would trust


def test_wrong_small_file_fails_on_its_git_blob_id(hub: HubServer, model: ModelRepo, dest: Path):
    hub.add_repo(
        "acme/small",
        {
            "vocab.txt": model.files["tokenizer/vocab.txt"][:900],
            "model.safetensors": b"\x00" * 2048,
        },
    )
    hub.serve_wrong_bytes("vocab.txt")

    with pytest.raises(FetchError) as caught:
        fetch.fetch("acme/small", dest, endpoint=hub.endpoint)

    assert caught.value.reason is FetchReason.ChecksumMismatch
    assert "vocab.txt" in caught.value.message and "git blob sha1" in caught.value.message


def test_pins_override_the_hub(hub: HubServer, model: ModelRepo, tmp_path: Path):
    right = hashlib.sha256(model.files[SHARD]).hexdigest()

    fetch.fetch(model.repo, tmp_path / "ok", endpoint=hub.endpoint, pins={SHARD: right})
    with pytest.raises(FetchError) as caught:
        fetch.fetch(model.repo, tmp_path / "bad", endpoint=hub.endpoint, pins={SHARD: "ab" * 32})

    assert caught.value.reason is FetchReason.ChecksumMismatch
    assert "ab" * 32 in caught.value.message and right in caught.value.message
