"""A fetch's `done` event lists every file's verified sha256 for a small repo (the operator
copies them into status.verification.files) and only the manifest's digest for a large one."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.hub import fetch, manifest
from modeldeploy.hub.progress import ProgressEvent
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer


def _done(hub: HubServer, repo: str, dest: Path) -> dict:
    events: list[ProgressEvent] = []
    fetch.fetch(repo, dest, endpoint=hub.endpoint, on_progress=events.append)
    assert events[-1].phase == "done"
    return events[-1].to_json()


def test_a_small_repo_names_each_file_with_its_sha256(
    hub: HubServer, model: ModelRepo, dest: Path
) -> None:
    done = _done(hub, model.repo, dest)
    written = manifest.read_manifest(dest)
    assert done["files"] == {f.path: f.sha256 for f in written.files}
    assert set(done["files"]) == set(model.files)


def test_a_large_repo_names_only_the_manifest_digest(
    hub: HubServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo("acme/many", {f"part-{i}.json": b"{}" for i in range(3)})
    monkeypatch.setattr(fetch, "FILES_IN_DONE", 2)
    done = _done(hub, "acme/many", dest)
    assert "files" not in done and done["manifestDigest"].startswith("sha256:")
