"""A fetch says what a directory is before its first byte (intent.json) and records the file
selection in the manifest, so that a partial directory on a cache root is never anonymous."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.hub import fetch, inventory, records, sharing
from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.inventory import State
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer

SHARD = "model-00001-of-00002.safetensors"
INCLUDE = ("*.safetensors", "config.json")


def test_the_manifest_records_the_selection_and_the_intent_goes(
    hub: HubServer, model: ModelRepo, tmp_path: Path
):
    selection = sharing.Selection.of(include=INCLUDE)
    dest = tmp_path / sharing.model_dir_name(model.repo, model.commit, selection)

    fetch.fetch(model.repo, dest, endpoint=hub.endpoint, include=INCLUDE)

    written = json.loads((dest / ".modeldeploy" / "manifest.json").read_text())
    assert written["selection"] == selection.to_json()
    assert not (dest / ".modeldeploy" / "intent.json").exists()
    assert inventory.scan(tmp_path).models[0].selection == selection


def test_a_fetch_that_dies_before_its_first_byte_leaves_its_intent(
    hub: HubServer, model: ModelRepo, tmp_path: Path
):
    selection = sharing.Selection.of(include=INCLUDE, sha256={})
    dest = tmp_path / sharing.model_dir_name(model.repo, model.commit, selection)
    for path in model.files:
        hub.drop_connection(path, at_byte=0, times=10)

    with pytest.raises(FetchError) as failed:
        fetch.fetch(
            model.repo, dest, endpoint=hub.endpoint, include=INCLUDE, retries=0, max_workers=1
        )

    assert failed.value.reason is FetchReason.NetworkError
    assert hub.bytes_served() == 0
    declared = records.read_json(dest / ".modeldeploy" / "intent.json")
    chosen = [p for p in model.files if p.endswith(".safetensors") or p == "config.json"]
    assert declared == {
        "repo": model.repo,
        "revision": "main",
        "commit": model.commit,
        "selection": selection.to_json(),
        "bytesTotal": sum(len(model.files[p]) for p in chosen),
        "filesTotal": len(chosen),
        "startedAt": declared["startedAt"],
    }
    (listed,) = inventory.scan(tmp_path).models
    assert listed.state is State.INCOMPLETE and listed.bytes_total == declared["bytesTotal"]
    assert (listed.repo, listed.commit, listed.revision) == (model.repo, model.commit, "main")


def test_a_fetch_stopped_half_way_is_incomplete_with_its_progress(
    hub: HubServer, model: ModelRepo, tmp_path: Path
):
    dest = tmp_path / sharing.model_dir_name(model.repo, model.commit, sharing.Selection())
    hub.drop_connection(SHARD, at_byte=100_000, times=10)

    with pytest.raises(FetchError):
        fetch.fetch(model.repo, dest, endpoint=hub.endpoint, retries=0, max_workers=1)

    (listed,) = inventory.scan(tmp_path).models
    assert listed.state is State.INCOMPLETE
    assert 100_000 <= listed.bytes_done < listed.bytes_total == sum(map(len, model.files.values()))
