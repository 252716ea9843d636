"""`inventory.scan` finds every model directory on a cache root and tells its state from
what is on disk (manifest, corruption record, repairing manifest, lock), never Verified for
a directory whose manifest is not there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modeldeploy.hub import corruption, inventory, lock, records, sharing, usage
from modeldeploy.hub.inventory import State
from tests.support.cacheroots import (
    commit_of,
    held_by_another_process,
    partial_model,
    verified_model,
)

REPO = "acme/tiny"
FILES = {"config.json": b"{}\n", "weights/model.bin": b"\1" * 10_000}


def _states(root: Path) -> dict[str, State]:
    return {m.name: m.state for m in inventory.scan(root, capacity_bytes=1).models}


def test_a_complete_model_is_verified_with_what_its_manifest_says(tmp_path: Path):
    selection = sharing.Selection.of(include=["*.json", "weights/*"])
    directory = verified_model(
        tmp_path,
        REPO,
        commit_of("v1"),
        FILES,
        selection=selection,
        verified_at="2024-05-01T10:00:00Z",
    )

    found = inventory.scan(tmp_path, capacity_bytes=1 << 30)
    (model,) = found.models

    assert model.to_json() == {
        "name": directory.name,
        "repo": REPO,
        "revision": "main",
        "commit": commit_of("v1"),
        "selection": selection.to_json(),
        "bytes": sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()),
        "files": 2,
        "state": "Verified",
        "verifiedAt": "2024-05-01T10:00:00Z",
        "lastUsed": None,
        "requests": 0,
        "usedBy": [],
        "badFiles": [],
        "bytesDone": 10_003,
        "bytesTotal": 10_003,
    }
    assert found.to_json()["usedBytes"] == model.bytes and found.capacity_bytes == 1 << 30


def test_a_recorded_corruption_makes_it_corrupted_naming_the_files(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    corruption.record_corruption(directory, ["weights/model.bin: sha256 mismatch"])

    (model,) = inventory.scan(tmp_path).models

    assert model.state is State.CORRUPTED
    assert model.bad_files == ("weights/model.bin: sha256 mismatch",)


def test_a_repair_in_progress_is_repairing_and_a_dead_one_corrupted(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    meta = directory / ".modeldeploy"
    os.replace(meta / "manifest.json", meta / "manifest.repairing.json")

    with lock.directory_lock(directory):
        during = _states(tmp_path)
    after = _states(tmp_path)

    assert during == {directory.name: State.REPAIRING}
    assert after == {directory.name: State.CORRUPTED}


def test_a_fetch_holding_the_lock_is_fetching_and_a_dead_one_incomplete(tmp_path: Path):
    directory = partial_model(tmp_path, REPO, commit_of("v2"), done=b"x" * 300, total=1200)

    with held_by_another_process(directory):
        (fetching,) = inventory.scan(tmp_path).models
    (incomplete,) = inventory.scan(tmp_path).models

    assert fetching.state is State.FETCHING and incomplete.state is State.INCOMPLETE
    assert (incomplete.repo, incomplete.commit) == (REPO, commit_of("v2"))
    assert (incomplete.bytes_done, incomplete.bytes_total) == (300, 1200)
    assert incomplete.files == 0 and incomplete.verified_at is None


def test_files_in_place_without_a_manifest_are_never_verified(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    (directory / ".modeldeploy" / "manifest.json").unlink()
    (directory / ".modeldeploy" / "partial").mkdir()

    (model,) = inventory.scan(tmp_path).models

    assert model.state is State.INCOMPLETE and model.files == 2


def test_an_unreadable_manifest_is_corrupted_naming_it(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    (directory / ".modeldeploy" / "manifest.json").write_text("{not json")

    (model,) = inventory.scan(tmp_path).models

    assert model.state is State.CORRUPTED
    assert model.bad_files[0].startswith(".modeldeploy/manifest.json: unreadable")


def test_legacy_commit_directories_are_models_too(tmp_path: Path):
    old = verified_model(tmp_path, REPO, commit_of("v1"), FILES, name=commit_of("v1"))
    killed = tmp_path / commit_of("v0") / ".modeldeploy"
    killed.mkdir(parents=True)  # a fetch that died before its first record

    found = {m.name: m for m in inventory.scan(tmp_path).models}

    assert found[old.name].state is State.VERIFIED and found[old.name].repo == REPO
    assert found[old.name].selection == sharing.Selection()
    assert found[commit_of("v0")].state is State.INCOMPLETE
    assert (found[commit_of("v0")].repo, found[commit_of("v0")].commit) == (None, commit_of("v0"))


def test_what_is_not_a_model_directory_is_not_listed(tmp_path: Path):
    verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    (tmp_path / "notes").mkdir()  # a plain folder
    (tmp_path / "README").write_text("a file")
    (tmp_path / ".hidden" / ".modeldeploy" / "partial").mkdir(parents=True)
    evicting = tmp_path / ".modeldeploy" / "evicting" / "gone"
    verified_model(evicting.parent, REPO, commit_of("v0"), FILES, name="gone")
    (tmp_path / "link").symlink_to(tmp_path / "notes")

    names = [m.name for m in inventory.scan(tmp_path).models]

    assert names == [sharing.model_dir_name(REPO, commit_of("v1"), sharing.Selection())]


def test_used_bytes_counts_every_directory_and_capacity_defaults_to_the_file_system(
    tmp_path: Path,
):
    verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    partial_model(tmp_path, REPO, commit_of("v2"), done=b"y" * 5000)
    stats = os.statvfs(tmp_path)

    found = inventory.scan(tmp_path)

    assert found.used_bytes == sum(m.bytes for m in found.models) > 15_000
    assert found.capacity_bytes == stats.f_blocks * stats.f_frsize


def test_use_comes_from_the_usage_file(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    usage.merge(
        tmp_path,
        {
            directory.name: usage.UsageUpdate(
                last_used="2024-05-02T08:00:00Z", requests=42, used_by=("mdep-a",)
            )
        },
    )
    usage.mark_in_use(tmp_path, directory.name, "mdep-b")

    (model,) = inventory.scan(tmp_path).models

    assert (model.last_used, model.requests) == ("2024-05-02T08:00:00Z", 42)
    assert model.used_by == ("mdep-a", "mdep-b")


def test_a_malformed_usage_file_is_not_taken_for_nobody_using_anything(tmp_path: Path):
    verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    records.write_json(usage.usage_path(tmp_path), {"models": {"x": {"requests": -1}}})

    with pytest.raises(usage.UsageError, match="requests"):
        inventory.scan(tmp_path)


def test_a_root_that_is_missing_a_file_or_a_model_directory_is_refused(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"), FILES)
    (tmp_path / "file").write_text("x")

    for root, why in (
        (tmp_path / "missing", "no such directory"),
        (tmp_path / "file", "not a directory"),
        (directory, "this is a model directory"),
    ):
        with pytest.raises(inventory.RootError, match=why):
            inventory.scan(root)


def test_an_empty_root_is_an_empty_inventory(tmp_path: Path):
    found = inventory.scan(tmp_path, capacity_bytes=100)

    assert json.loads(json.dumps(found.to_json()))["models"] == [] and found.used_bytes == 0
