"""Bad input to `modeldeploy cache`: one line on stderr, exit 2 for a malformed argument and
1 for a ROOT that is not a cache root, and nothing changed on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.cli.main import main
from tests.support.cacheroots import ago, commit_of, verified_model

COMMIT = commit_of("v1")


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    verified_model(cache, "acme/tiny", COMMIT, verified_at=ago(days=400))
    return cache


def _gc(root: Path, *extra: str) -> list[str]:
    return ["cache", "gc", str(root), "--max-unused-for", "7d", *extra]


USAGE_ERRORS = [
    (["--max-unused-for", "7x"], "invalid duration '7x'"),
    (["--max-unused-for=-1h"], "invalid duration"),
    (["--high-watermark", "50", "--low-watermark", "50"], "below the high watermark"),
    (["--high-watermark", "60"], "below the high watermark 60"),  # low defaults to 75
    (["--high-watermark", "150"], "expected a percentage"),
    (["--low-watermark", "x"], "expected a percentage"),
    (["--keep", "acme/tiny"], "expected REPO@COMMIT"),
    (["--keep", f"acme/tiny@{COMMIT[:12]}"], "expected REPO@COMMIT"),
    (["--keep", "acme/tiny@" + "g" * 40], "expected REPO@COMMIT"),
    (["--preload", f"bad//repo@{COMMIT}"], "--preload"),
    (["--capacity", "lots"], "--capacity 'lots'"),
    (["--capacity", "0"], "--capacity '0'"),
    (["--usage", "{not json"], "--usage"),
    (["--usage", '{"m": {"requests": -1}}'], "requests"),
    (["--usage", "@/nonexistent/usage.json"], "--usage @/nonexistent/usage.json"),
]


@pytest.mark.parametrize(("extra", "why"), USAGE_ERRORS)
def test_a_malformed_gc_argument_is_a_one_line_usage_error(
    root: Path, extra: list[str], why: str, capsys: pytest.CaptureFixture[str]
):
    before = _tree(root)

    code = main(_gc(root, *extra))

    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("modeldeploy cache gc: error: ") and why in err
    assert _tree(root) == before


@pytest.mark.parametrize(
    "args",
    [
        ["cache", "verify", "{root}", "--usage", "[1]"],
        ["cache", "verify", "{root}", "--max-workers", "0"],
        ["cache", "ls", "{root}", "--capacity=-5Gi"],
    ],
)
def test_a_malformed_argument_to_ls_or_verify_is_a_one_line_usage_error(
    root: Path, args: list[str], capsys: pytest.CaptureFixture[str]
):
    before = _tree(root)

    code = main([a.format(root=root) for a in args])

    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and _tree(root) == before


@pytest.mark.parametrize("command", ["ls", "verify", "gc"])
def test_a_root_that_is_not_a_cache_root_fails_in_one_line(
    root: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
):
    (tmp_path / "file").write_text("x")
    model = next(root.iterdir())
    extra = ["--max-unused-for", "0s"] if command == "gc" else []
    usage = ["--usage", json.dumps({model.name: {"requests": 1}})] if command != "ls" else []
    before = _tree(tmp_path)

    for target, why in (
        (tmp_path / "missing", "no such directory"),
        (tmp_path / "file", "not a directory"),
        (model, "this is a model directory, not a cache root; give the directory that holds it"),
    ):
        code = main(["cache", command, str(target), *extra, *usage])
        err = capsys.readouterr().err
        assert code == 1 and len(err.splitlines()) == 1 and why in err, err
    assert _tree(tmp_path) == before


def test_an_unknown_subcommand_shows_the_usage_of_cache(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        main(["cache", "prune", "/tmp"])

    assert exited.value.code == 2 and "usage: modeldeploy cache" in capsys.readouterr().err
