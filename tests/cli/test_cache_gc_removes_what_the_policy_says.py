"""`modeldeploy cache gc ROOT`: each removal printed with its reason; kept, preloaded, in-use
and fetching models handled as the policy says; `--dry-run` the same list, nothing removed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.cli.main import main
from modeldeploy.hub import eviction, usage
from tests.support.cacheroots import (
    age,
    ago,
    commit_of,
    held_by_another_process,
    partial_model,
    verified_model,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _models(root: Path) -> dict[str, Path]:
    """A root holding one model for each rule (and for each exception to them)."""
    month = ago(days=30)
    models = {
        "old": verified_model(root, "acme/tiny", commit_of("v1"), verified_at=month),
        "new": verified_model(root, "acme/tiny", commit_of("v2"), verified_at=month),
        "stale": verified_model(root, "acme/stale", commit_of("s1"), verified_at=month),
        "preloaded": verified_model(root, "acme/pre", commit_of("p1"), verified_at=month),
        "in-use": verified_model(root, "acme/used", commit_of("u1"), verified_at=month),
        "abandoned": partial_model(root, "acme/part", commit_of("x1")),
        "fetching": partial_model(root, "acme/live", commit_of("l1")),
        "recent": verified_model(root, "acme/recent", commit_of("r1")),
    }
    age(models["abandoned"], days=10)
    age(models["fetching"], days=10)
    return models


def _gc(root: Path, models: dict[str, Path], *extra: str) -> list[str]:
    return [
        "cache",
        "gc",
        str(root),
        "--max-unused-for",
        "7d",
        "--keep",
        f"acme/tiny@{commit_of('v2')}",
        "--preload",
        f"acme/pre@{commit_of('p1')}",
        "--usage",
        json.dumps({models["in-use"].name: {"usedBy": ["mdep-a"], "requests": 4}}),
        *extra,
    ]


def _last_json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out.splitlines()[-1])


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_each_rule_removes_its_models_and_says_why(root: Path, capsys: pytest.CaptureFixture[str]):
    models = _models(root)

    with held_by_another_process(models["fetching"]):
        code = main(_gc(root, models, "--json"))

    report = _last_json(capsys)
    why = {r["name"]: r["why"] for r in report["removed"]}
    assert code == 0 and report["dryRun"] is False and report["skipped"] == []
    assert set(why) == {models[k].name for k in ("old", "stale", "abandoned")}
    assert why[models["old"].name] == f"old commit: acme/tiny now at {commit_of('v2')[:12]}"
    assert why[models["stale"].name].startswith("unused for 30d, longer than 7d (verified ")
    assert why[models["abandoned"].name].startswith("abandoned partial fetch: untouched for 10d")
    left = {m["name"] for m in report["inventory"]["models"]}
    assert left == {models[k].name for k in ("new", "preloaded", "in-use", "fetching", "recent")}
    assert all(models[k].exists() == (models[k].name in left) for k in models)
    removed = report["removed"][0]
    assert set(removed) == {"name", "repo", "commit", "bytes", "why"} and removed["bytes"] > 0


def test_a_dry_run_prints_the_same_list_and_changes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
):
    models = _models(root)
    before = _tree(root)

    assert main(_gc(root, models, "--json", "--dry-run")) == 0
    dry = _last_json(capsys)
    unchanged = _tree(root)
    assert main(_gc(root, models, "--json")) == 0
    real = _last_json(capsys)

    assert unchanged == before and dry["dryRun"] is True
    assert dry["removed"] == real["removed"] and len(real["removed"]) == 4
    # Without the fetch's lock held, the dead "fetching" one is abandoned too.
    assert models["fetching"].name in {r["name"] for r in real["removed"]}


def test_people_read_one_line_per_removal_with_its_reason(
    root: Path, capsys: pytest.CaptureFixture[str]
):
    models = _models(root)

    assert main(_gc(root, models, "--dry-run")) == 0
    dry = capsys.readouterr().out.splitlines()
    assert main(_gc(root, models)) == 0
    real = capsys.readouterr().out.splitlines()

    name = models["old"].name
    assert any(line.startswith(f"would remove  {name} (") and "old commit" in line for line in dry)
    assert any(line.startswith(f"removed       {name} (") and "old commit" in line for line in real)
    assert [line.split()[0] for line in real[:4]] == ["removed"] * 4
    assert real[4].startswith("freed ") and real[5].startswith("4 models in ")


def test_above_the_high_watermark_the_least_recently_used_go_first(
    root: Path, capsys: pytest.CaptureFixture[str]
):
    data = {"model.safetensors": b"\0" * 100_000}
    models = [verified_model(root, f"acme/m{i}", commit_of(f"m{i}"), data) for i in range(4)]
    last_used = {
        m.name: {"lastUsed": ago(hours=h)} for m, h in zip(models, (5, 1, 9, 3), strict=True)
    }
    held = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

    code = main(
        [
            "cache",
            "gc",
            str(root),
            "--max-unused-for",
            "30d",
            "--capacity",
            str(held),
            "--high-watermark",
            "90",
            "--low-watermark",
            "50",
            "--usage",
            json.dumps(last_used),
            "--json",
        ]
    )

    report = _last_json(capsys)
    assert code == 0
    assert [r["name"] for r in report["removed"]] == [models[2].name, models[0].name]
    assert report["removed"][0]["why"].startswith("cache 100% full, above the high watermark")
    assert report["inventory"]["usedBytes"] * 2 <= held


def test_a_killed_gcs_leftovers_go_first_and_are_never_listed(
    root: Path, capsys: pytest.CaptureFixture[str]
):
    leftover = verified_model(eviction.evicting_root(root), "acme/gone", commit_of("g1"))

    assert main(["cache", "gc", str(root), "--max-unused-for", "7d", "--json"]) == 0

    report = _last_json(capsys)
    assert not leftover.exists() and report["inventory"]["models"] == []
    assert report["removed"] == []


def test_usage_merges_keep_max_requests_and_latest_use(
    root: Path, capsys: pytest.CaptureFixture[str]
):
    model = verified_model(root, "acme/tiny", commit_of("v1"))
    usage.merge(
        root,
        {
            model.name: usage.UsageUpdate(
                last_used="2024-05-02T10:00:00Z", requests=10, used_by=("a",)
            )
        },
    )
    given = {model.name: {"lastUsed": "2024-05-01T00:00:00Z", "requests": 3, "usedBy": ["b"]}}

    code = main(
        [
            "cache",
            "gc",
            str(root),
            "--max-unused-for",
            "9999d",
            "--usage",
            json.dumps(given),
            "--json",
        ]
    )

    (listed,) = _last_json(capsys)["inventory"]["models"]
    assert code == 0
    assert (listed["lastUsed"], listed["requests"], listed["usedBy"]) == (
        "2024-05-02T10:00:00Z",
        10,
        ["b"],
    )


def test_usage_can_come_from_a_file(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    model = verified_model(root, "acme/tiny", commit_of("v1"), verified_at=ago(days=30))
    record = tmp_path / "usage.json"
    record.write_text(json.dumps({model.name: {"usedBy": ["mdep-a"]}}))

    assert main(["cache", "gc", str(root), "--max-unused-for", "7d", "--usage", f"@{record}"]) == 0

    assert model.is_dir() and "nothing to remove" in capsys.readouterr().out
    assert os.path.exists(usage.usage_path(root))
