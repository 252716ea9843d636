"""A manifest is read from disk and could be edited: its paths must never lead outside DIR."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modeldeploy.cli.main import main
from modeldeploy.hub import fetch, manifest, verify
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer


@pytest.fixture
def fetched(hub: HubServer, model: ModelRepo, dest: Path) -> Path:
    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)
    return dest


def _list_in_manifest(directory: Path, name: str, size: int) -> None:
    path = manifest.manifest_path(directory)
    doc = json.loads(path.read_text())
    doc["files"].append({"path": name, "size": size, "sha256": "0" * 64})
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("name", ["../victim.txt", "/tmp/victim.txt", "a/../../victim.txt"])
def test_a_path_outside_the_directory_makes_the_manifest_invalid(fetched: Path, name: str):
    _list_in_manifest(fetched, name, 6)

    with pytest.raises(FetchError) as caught:
        verify.verify_directory(fetched, full=False)

    assert caught.value.reason is FetchReason.ManifestInvalid
    assert name in caught.value.message


def test_repair_never_deletes_a_file_outside(fetched: Path, capsys: pytest.CaptureFixture[str]):
    victim = fetched.parent / "victim.txt"
    victim.write_text("keep me")
    _list_in_manifest(fetched, "../victim.txt", 99)  # wrong size: repair would replace it

    code = main(["verify", str(fetched), "--repair", "--progress", "none"])

    assert code == 1 and "ManifestInvalid" in capsys.readouterr().err
    assert victim.read_text() == "keep me"


def test_verify_does_not_follow_a_symlink_out_of_the_directory(fetched: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "vocab.txt").write_bytes((fetched / "tokenizer" / "vocab.txt").read_bytes())
    moved = fetched / "tokenizer"
    os.rename(moved, tmp_path / "tokenizer-real")
    os.symlink(outside, moved)

    with pytest.raises(FetchError) as caught:
        verify.verify_directory(fetched, full=True)

    assert caught.value.reason is FetchReason.UnsafePath
