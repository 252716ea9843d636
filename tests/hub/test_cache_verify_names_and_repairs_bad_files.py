"""`modeldeploy cache verify ROOT`: every model re-hashed; bad files named with their model
(exit 1) and recorded, so the inventory says Corrupted; `--repair` re-fetches only those
files from the loopback hub and the models are Verified again."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.cli.main import main
from modeldeploy.hub import fetch, inventory, scrub, sharing
from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.inventory import State
from tests.hub.conftest import ModelRepo
from tests.support.cacheroots import partial_model
from tests.support.hubserver import HubServer

SHARD = "model-00001-of-00002.safetensors"
OTHER_REPO = "acme/other-model"


@pytest.fixture
def root(hub: HubServer, model: ModelRepo, tmp_path: Path) -> Path:
    """A cache root holding two fetched models (and a partial one nobody verifies)."""
    cache = tmp_path / "cache"
    other = hub.add_repo(OTHER_REPO, {"config.json": b"{}\n", "README.md": b"# other\n"})
    for repo, commit in ((model.repo, model.commit), (OTHER_REPO, other)):
        dest = cache / sharing.model_dir_name(repo, commit, sharing.Selection())
        fetch.fetch(repo, dest, endpoint=hub.endpoint)
    partial_model(cache, "acme/partial", "f" * 40)
    hub.reset_counters()
    return cache


def _dir(root: Path, repo: str) -> Path:
    prefix = repo.replace("/", "--") + "--"
    return next(p for p in root.iterdir() if p.name.startswith(prefix))


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _verify(root: Path, *extra: str) -> list[str]:
    return ["cache", "verify", str(root), "--json", *extra]


def _last_json(capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    captured = capsys.readouterr()
    return json.loads(captured.out.splitlines()[-1]), captured.err


def test_a_sound_cache_verifies_every_complete_model(
    root: Path, hub: HubServer, capsys: pytest.CaptureFixture[str]
):
    code = main(_verify(root))

    report, err = _last_json(capsys)
    assert code == 0 and err == ""
    assert [(v["ok"], v["bad"], v["repaired"]) for v in report["verify"]] == [(True, [], [])] * 2
    states = {m["repo"]: m["state"] for m in report["inventory"]["models"]}
    assert states == {
        "acme/tiny-model": "Verified",
        OTHER_REPO: "Verified",
        "acme/partial": "Incomplete",
    }
    assert hub.downloads() == []


def test_bad_files_are_named_with_their_model_and_recorded(
    root: Path, hub: HubServer, model: ModelRepo, capsys: pytest.CaptureFixture[str]
):
    first, second = _dir(root, model.repo), _dir(root, OTHER_REPO)
    _flip_byte(first / SHARD, 1000)
    (second / "README.md").unlink()

    code = main(_verify(root))

    report, err = _last_json(capsys)
    assert code == 1 and len(err.splitlines()) == 1
    assert f"{first.name}: {SHARD}: sha256 mismatch" in err
    assert f"{second.name}: README.md: missing" in err
    bad = {v["name"]: (v["ok"], v["bad"]) for v in report["verify"]}
    assert bad == {
        first.name: (False, [f"{SHARD}: sha256 mismatch"]),
        second.name: (False, ["README.md: missing"]),
    }
    listed = {m.name: m for m in inventory.scan(root).models}
    assert listed[first.name].state is State.CORRUPTED
    assert listed[first.name].bad_files == (f"{SHARD}: sha256 mismatch",)
    assert (first / ".modeldeploy" / "corrupted.json").exists()
    assert hub.downloads() == []


def test_repair_refetches_only_the_bad_files_and_the_models_are_verified_again(
    root: Path, hub: HubServer, model: ModelRepo, capsys: pytest.CaptureFixture[str]
):
    first, second = _dir(root, model.repo), _dir(root, OTHER_REPO)
    _flip_byte(first / SHARD, 1000)
    (second / "README.md").unlink()
    main(_verify(root))
    capsys.readouterr()

    code = main(_verify(root, "--repair"))

    report, err = _last_json(capsys)
    assert code == 0 and err == ""
    assert {v["name"]: v["repaired"] for v in report["verify"]} == {
        first.name: [SHARD],
        second.name: ["README.md"],
    }
    assert all(v["ok"] and v["bad"] for v in report["verify"])
    assert sorted(r.path.rsplit("/", 1)[1] for r in hub.downloads()) == ["README.md", SHARD]
    assert (first / SHARD).read_bytes() == model.files[SHARD]
    states = {m["name"]: (m["state"], m["badFiles"]) for m in report["inventory"]["models"]}
    assert states[first.name] == states[second.name] == ("Verified", [])
    assert not (first / ".modeldeploy" / "corrupted.json").exists()


def test_a_clean_verify_clears_an_old_record_and_a_dead_repairs_leftover(
    root: Path, hub: HubServer, model: ModelRepo, capsys: pytest.CaptureFixture[str]
):
    first, second = _dir(root, model.repo), _dir(root, OTHER_REPO)
    _flip_byte(first / SHARD, 1000)
    main(_verify(root))
    _flip_byte(first / SHARD, 1000)  # put right by hand
    meta = second / ".modeldeploy"
    os.replace(meta / "manifest.json", meta / "manifest.repairing.json")  # a repair died
    before = {m.name: m.state for m in inventory.scan(root).models}
    capsys.readouterr()

    code = main(_verify(root))

    report, _ = _last_json(capsys)
    assert before[first.name] is before[second.name] is State.CORRUPTED
    assert code == 0 and hub.downloads() == []
    after = {m["name"]: m["state"] for m in report["inventory"]["models"]}
    assert after[first.name] == after[second.name] == "Verified"


def test_people_read_one_line_per_model(
    root: Path, model: ModelRepo, capsys: pytest.CaptureFixture[str]
):
    _flip_byte(_dir(root, model.repo) / SHARD, 1000)

    code = main(["cache", "verify", str(root)])

    out = capsys.readouterr().out.splitlines()
    assert code == 1
    # By directory name: acme--other-model, then acme--tiny-model.
    assert out[0].startswith(f"ok        {_dir(root, OTHER_REPO).name}: 2 files")
    assert out[1].startswith(f"BAD       {_dir(root, model.repo).name}: {SHARD}: sha256 mismatch")
    assert out[2].startswith("3 models in ")


def test_usage_is_recorded_before_verifying(root: Path, capsys: pytest.CaptureFixture[str]):
    name = _dir(root, OTHER_REPO).name
    given = {name: {"requests": 12, "lastUsed": "2024-05-01T00:00:00Z", "usedBy": ["mdep-a"]}}

    assert main(_verify(root, "--usage", json.dumps(given))) == 0

    report, _ = _last_json(capsys)
    listed = next(m for m in report["inventory"]["models"] if m["name"] == name)
    assert (listed["requests"], listed["usedBy"]) == (12, ["mdep-a"])


def test_an_unreadable_manifest_fails_naming_it(
    root: Path, model: ModelRepo, capsys: pytest.CaptureFixture[str]
):
    broken = _dir(root, model.repo)
    (broken / ".modeldeploy" / "manifest.json").write_text("{not json")

    code = main(_verify(root, "--repair"))

    report, err = _last_json(capsys)
    (entry,) = [v for v in report["verify"] if v["name"] == broken.name]
    assert code == 1 and not entry["ok"] and entry["bad"][0].startswith("ManifestInvalid: ")
    assert broken.name in err and "malformed manifest" in err


def test_a_model_removed_while_verifying_is_left_out_and_not_recreated(
    root: Path, model: ModelRepo
):
    scanned = inventory.scan(root)
    gone = _dir(root, model.repo)
    shutil.rmtree(gone)  # as an eviction would, after the inventory was taken

    checks = scrub.scrub(root, scanned, repair=False)

    assert [c.name for c in checks] == [_dir(root, OTHER_REPO).name]
    assert not gone.exists()


def test_a_cancelled_verify_stops_as_interrupted_recording_nothing(root: Path, model: ModelRepo):
    _flip_byte(_dir(root, model.repo) / SHARD, 1000)
    cancel = threading.Event()
    cancel.set()  # as Ctrl-C does, through interrupt.run_cancellable

    with pytest.raises(FetchError) as stopped:
        scrub.scrub(root, inventory.scan(root), repair=True, cancel=cancel)

    assert stopped.value.reason is FetchReason.Interrupted
    assert not list(root.glob("*/.modeldeploy/corrupted.json"))
