"""A fetch downloads exactly the resolved commit, verified, with the manifest written last."""

from __future__ import annotations

import json
from pathlib import Path

from modeldeploy.hub import fetch, manifest
from modeldeploy.hub.progress import ProgressEvent
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer


def test_fetch_writes_every_file_and_a_manifest(hub: HubServer, model: ModelRepo, dest: Path):
    events: list[ProgressEvent] = []

    result = fetch.fetch(model.repo, dest, endpoint=hub.endpoint, on_progress=events.append)

    assert result.commit == model.commit and not result.already_complete
    for path, data in model.files.items():
        assert (dest / path).read_bytes() == data
    written = manifest.read_manifest(dest)
    assert written.commit == model.commit and written.repo == model.repo
    assert {f.path: f.size for f in written.files} == {p: len(d) for p, d in model.files.items()}
    assert all(len(f.sha256) == 64 for f in written.files)
    assert not (dest / ".modeldeploy" / "partial").exists()
    assert events[-1].phase == "done" and events[-1].to_json()["verified"] is True
    assert events[-1].bytes_done == events[-1].bytes_total == sum(map(len, model.files.values()))
    assert {e.phase for e in events} >= {"resolving", "downloading", "done"}


def test_lfs_redirect_to_the_cdn_never_carries_the_token(hub: HubServer, dest: Path):
    files = {"model.safetensors": b"\x00" * 5000, "config.json": b"{}"}
    hub.add_repo("acme/private", files, private=True, tokens=("hf_secret",))

    fetch.fetch("acme/private", dest, endpoint=hub.endpoint, token="hf_secret")

    cdn = [r for r in hub.requests if r.path.startswith("/_cdn/")]
    assert cdn and not any(r.token_sent for r in cdn)
    assert all(r.token_sent for r in hub.requests if not r.path.startswith("/_cdn/"))


def test_revision_tag_and_sha_resolve_to_the_same_commit(
    hub: HubServer, model: ModelRepo, tmp_path: Path
):
    newer = hub.add_commit(model.repo, {"config.json": b"{}", "model.safetensors": b"x" * 2000})

    by_tag = fetch.fetch(model.repo, tmp_path / "a", revision="v1", endpoint=hub.endpoint)
    by_sha = fetch.fetch(model.repo, tmp_path / "b", revision=model.commit, endpoint=hub.endpoint)
    by_branch = fetch.fetch(model.repo, tmp_path / "c", endpoint=hub.endpoint)

    assert by_tag.commit == by_sha.commit == model.commit
    assert by_branch.commit == newer
    resolves = {
        r.path.split("/resolve/")[1].split("/")[0] for r in hub.requests if "/resolve/" in r.path
    }
    assert resolves == {model.commit, newer}  # files are always fetched by commit, never by ref


def test_include_patterns_select_files(hub: HubServer, model: ModelRepo, dest: Path):
    result = fetch.fetch(
        model.repo, dest, endpoint=hub.endpoint, include=("*.json", "*.safetensors")
    )

    assert sorted(f.path for f in result.files) == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    assert not (dest / "README.md").exists()


def test_changed_revision_replaces_files_and_drops_ones_no_longer_listed(
    hub: HubServer, model: ModelRepo, dest: Path
):
    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)
    newer = hub.add_commit(
        model.repo, {"config.json": b'{"v": 2}', "model.safetensors": b"y" * 3000}
    )

    result = fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    assert result.commit == newer
    assert (dest / "config.json").read_bytes() == b'{"v": 2}'
    assert not (dest / "model-00001-of-00002.safetensors").exists()
    recorded = json.loads(manifest.manifest_path(dest).read_text())
    assert recorded["commit"] == newer and len(recorded["files"]) == 2
