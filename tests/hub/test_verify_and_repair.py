"""`verify` finds every bad file against the manifest; `repair` re-downloads only those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.hub import fetch, repairing, verify
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer

SHARD = "model-00001-of-00002.safetensors"
OTHER = "model-00002-of-00002.safetensors"


@pytest.fixture
def fetched(hub: HubServer, model: ModelRepo, dest: Path) -> Path:
    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)
    hub.reset_counters()
    return dest


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_good_directory_verifies(fetched: Path):
    assert verify.verify_directory(fetched, full=True).ok
    assert verify.verify_directory(fetched, full=False).ok


def test_full_verify_names_the_corrupt_file_with_both_digests(fetched: Path, model: ModelRepo):
    _flip_byte(fetched / SHARD, 100_000)  # same size: only hashing can tell

    quick = verify.verify_directory(fetched, full=False)
    full = verify.verify_directory(fetched, full=True)

    assert quick.ok
    assert [(b.path, b.reason) for b in full.bad] == [(SHARD, "sha256 mismatch")]
    assert full.bad[0].expected != full.bad[0].actual and SHARD in full.summary()


def test_quick_verify_finds_missing_truncated_and_unreadable_headers(fetched: Path):
    (fetched / "README.md").unlink()
    with (fetched / OTHER).open("r+b") as handle:
        handle.truncate(1000)
    (fetched / SHARD).write_bytes(b"\xff" * (fetched / SHARD).stat().st_size)

    report = verify.verify_directory(fetched, full=False)

    assert {(b.path, b.reason) for b in report.bad} == {
        ("README.md", "missing"),
        (OTHER, "size mismatch"),
        (SHARD, "header unreadable"),
    }


def test_repair_redownloads_only_the_bad_file(hub: HubServer, fetched: Path, model: ModelRepo):
    _flip_byte(fetched / SHARD, 5)
    before = json.loads((fetched / ".modeldeploy" / "manifest.json").read_text())

    report = repairing.repair(fetched, endpoint=hub.endpoint)

    assert report.ok and report.repaired == (SHARD,)
    assert (fetched / SHARD).read_bytes() == model.files[SHARD]
    assert [r.path.rsplit("/", 1)[1] for r in hub.downloads()] == [SHARD]
    assert hub.bytes_served() == len(model.files[SHARD])
    after = json.loads((fetched / ".modeldeploy" / "manifest.json").read_text())
    assert after["files"] == before["files"]
    assert verify.verify_directory(fetched, full=True).ok


def test_repair_uses_the_endpoint_in_the_manifest(hub: HubServer, fetched: Path):
    (fetched / "README.md").unlink()

    assert repairing.repair(fetched).repaired == ("README.md",)


def test_missing_or_broken_manifest_is_typed(tmp_path: Path, fetched: Path):
    with pytest.raises(FetchError) as missing:
        verify.verify_directory(tmp_path, full=False)
    (fetched / ".modeldeploy" / "manifest.json").write_text("{not json")
    with pytest.raises(FetchError) as broken:
        verify.verify_directory(fetched, full=False)

    assert missing.value.reason is FetchReason.ManifestMissing
    assert broken.value.reason is FetchReason.ManifestInvalid


def test_a_failed_repair_keeps_the_manifest_for_the_next_one(
    hub: HubServer, fetched: Path, model: ModelRepo
):
    _flip_byte(fetched / SHARD, 5)
    hub.drop_connection(SHARD, at_byte=0, times=2)

    with pytest.raises(FetchError) as failed:
        repairing.repair(fetched, endpoint=hub.endpoint, retries=1, backoff_base=0.01)
    # Not complete meanwhile: nothing may take the directory for verified.
    with pytest.raises(FetchError) as meanwhile:
        verify.verify_directory(fetched, full=False)
    again = repairing.repair(fetched, endpoint=hub.endpoint)

    assert failed.value.reason is FetchReason.NetworkError
    assert meanwhile.value.reason is FetchReason.ManifestMissing
    assert again.repaired == (SHARD,) and (fetched / SHARD).read_bytes() == model.files[SHARD]
    assert verify.verify_directory(fetched, full=True).ok
    assert not (fetched / ".modeldeploy" / "manifest.repairing.json").exists()


def test_a_repair_after_a_failed_one_restores_the_manifest_when_files_are_good(
    hub: HubServer, fetched: Path, model: ModelRepo
):
    _flip_byte(fetched / SHARD, 5)
    hub.drop_connection(SHARD, at_byte=0, times=1)
    with pytest.raises(FetchError):
        repairing.repair(fetched, endpoint=hub.endpoint, retries=0)
    (fetched / SHARD).write_bytes(model.files[SHARD])  # put back by hand
    hub.reset_counters()

    report = repairing.repair(fetched, endpoint=hub.endpoint)

    assert report.ok and report.repaired == () and hub.downloads() == []
    assert verify.verify_directory(fetched, full=False).ok


def test_repair_reports_progress_while_it_hashes(hub: HubServer, fetched: Path):
    _flip_byte(fetched / SHARD, 5)
    events = []

    repairing.repair(fetched, endpoint=hub.endpoint, on_progress=events.append)

    hashing = [e for e in events if e.phase == "verifying" and e.bytes_done > 0]
    assert hashing and hashing[-1].bytes_total == verify.load_manifest(fetched).total_bytes
