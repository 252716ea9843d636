"""Re-running a fetch on a complete directory downloads nothing."""

from __future__ import annotations

from pathlib import Path

from modeldeploy.hub import fetch
from modeldeploy.hub.progress import ProgressEvent
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer


def test_second_fetch_downloads_no_bytes(hub: HubServer, model: ModelRepo, dest: Path):
    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)
    hub.reset_counters()

    again = fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    assert again.already_complete and again.bytes_downloaded == 0
    assert hub.downloads() == [] and hub.bytes_served() == 0


def test_a_complete_directory_says_what_was_checked(hub: HubServer, model: ModelRepo, dest: Path):
    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)
    events: list[ProgressEvent] = []

    fetch.fetch(model.repo, dest, endpoint=hub.endpoint, on_progress=events.append)

    done = events[-1].to_json()
    assert done["event"] == "done" and done["alreadyComplete"] is True
    assert done["verified"] == "manifest"  # sizes against the manifest, nothing re-hashed
    assert "verifying" not in {e.phase for e in events}


def test_a_fresh_fetch_says_it_verified(hub: HubServer, model: ModelRepo, dest: Path):
    events: list[ProgressEvent] = []

    fetch.fetch(model.repo, dest, endpoint=hub.endpoint, on_progress=events.append)

    done = events[-1].to_json()
    assert done["verified"] is True and done["alreadyComplete"] is False


def test_files_in_place_without_a_manifest_are_hashed_not_downloaded(
    hub: HubServer, model: ModelRepo, dest: Path
):
    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)
    (dest / ".modeldeploy" / "manifest.json").unlink()
    (dest / "README.md").unlink()
    hub.reset_counters()

    again = fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    assert not again.already_complete
    assert [r.path.rsplit("/", 1)[1] for r in hub.downloads()] == ["README.md"]
    assert (dest / ".modeldeploy" / "manifest.json").exists()


def test_a_wrong_file_in_place_is_replaced(hub: HubServer, model: ModelRepo, dest: Path):
    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)
    (dest / ".modeldeploy" / "manifest.json").unlink()
    target = dest / "model-00001-of-00002.safetensors"
    target.write_bytes(b"\x00" * target.stat().st_size)  # same size, wrong bytes

    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)

    assert target.read_bytes() == model.files["model-00001-of-00002.safetensors"]
