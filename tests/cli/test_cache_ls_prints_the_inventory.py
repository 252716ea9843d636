"""`modeldeploy cache ls ROOT`: a table for people, `--json` the inventory document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.cli.main import main
from modeldeploy.hub import corruption, inventory, usage
from tests.support.cacheroots import commit_of, partial_model, verified_model

REPO = "acme/tiny"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    good = verified_model(tmp_path, REPO, commit_of("v1"), verified_at="2024-05-01T10:00:00Z")
    bad = verified_model(tmp_path, "acme/other", commit_of("o1"))
    corruption.record_corruption(bad, ["model.safetensors: sha256 mismatch"])
    partial_model(tmp_path, REPO, commit_of("v2"), done=b"z" * 250, total=1000)
    usage.merge(tmp_path, {good.name: usage.UsageUpdate(requests=3, used_by=("mdep-a",))})
    return tmp_path


def test_json_is_the_inventory_document(root: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["cache", "ls", str(root), "--json", "--capacity", "200Gi"])

    out = capsys.readouterr().out
    printed = json.loads(out.splitlines()[-1])
    expected = inventory.scan(root, capacity_bytes=200 * 1024**3).to_json()
    assert code == 0 and len(out.splitlines()) == 1
    assert {**printed, "scannedAt": None} == {**expected, "scannedAt": None}
    assert printed["capacityBytes"] == 214748364800
    assert printed["usedBytes"] == sum(m["bytes"] for m in printed["models"])
    assert sorted(m["state"] for m in printed["models"]) == ["Corrupted", "Incomplete", "Verified"]


def test_the_table_shows_state_size_use_and_bad_files(
    root: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["cache", "ls", str(root), "--capacity", "1000000"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "STATE",
        "SIZE",
        "FILES",
        "VERIFIED",
        "LAST-USED",
        "REQUESTS",
        "USED-BY",
        "DIRECTORY",
    ]
    rows = {
        line.split()[-1]: line for line in lines[1:] if line.startswith(("Verified", "Corr", "Inc"))
    }
    verified = next(row for name, row in rows.items() if commit_of("v1") in name)
    assert "2024-05-01T10:00:00Z" in verified and "mdep-a" in verified
    assert "    bad: model.safetensors: sha256 mismatch" in lines
    assert any("(25% of 1.0 KB)" in row for row in rows.values())
    assert lines[-1].startswith(f"3 models in {root}:") and "of 1.0 MB" in lines[-1]


def test_an_empty_root_lists_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["cache", "ls", str(tmp_path), "--json"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed["models"] == [] and printed["usedBytes"] == 0 and printed["capacityBytes"] > 0
