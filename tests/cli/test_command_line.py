"""The `modeldeploy` command: help that reads well, the contract's subcommands, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ["operator", "fetch", "verify", "serve", "render", "crd"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modeldeploy", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def test_help_lists_every_contract_subcommand() -> None:
    result = run("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name}" in result.stdout, f"{name} missing from --help"
    assert "exit codes" in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_its_own_help(name: str) -> None:
    result = run(name, "--help")
    assert result.returncode == 0, result.stderr
    assert f"modeldeploy {name}" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert run().returncode == 2
    assert run("no-such-command").returncode == 2
    assert run("crd", "--no-such-flag").returncode == 2


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("fetch", ["acme/tiny", "--dest", "d", "--bogus", "x"]),
        ("verify", ["d", "--bogus"]),
        ("render", ["f.yaml", "--bogus"]),
        ("crd", ["--bogus"]),
    ],
)
def test_an_unknown_flag_shows_the_usage_of_its_subcommand(name: str, args: list[str]) -> None:
    result = run(name, *args)

    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: modeldeploy {name} ")
    assert f"\nmodeldeploy {name}: error: unrecognized arguments: --bogus" in result.stderr


def test_version_is_the_package_version() -> None:
    from importlib import metadata

    assert run("--version").stdout.strip() == f"modeldeploy {metadata.version('modeldeploy')}"


def test_runs_from_the_repository_root_without_shadowing_stdlib_operator() -> None:
    """`operator/` at the top must never hide the stdlib module of the same name."""
    probe = (
        "import operator, modeldeploy.operator.api as api;"
        "print(operator.__file__); print(api.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    stdlib_file, api_file = result.stdout.split()
    assert Path(stdlib_file).parent != REPO_ROOT and stdlib_file.endswith("operator.py")
    assert Path(api_file).resolve() == (REPO_ROOT / "operator" / "api" / "__init__.py").resolve()
    for folder in ("operator", "runtime", "hub"):
        assert not (REPO_ROOT / folder / "__init__.py").exists(), (
            f"{folder}/ must stay a namespace portion"
        )


def test_an_unexpected_error_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure the code did not foresee still honours the contract: one line, exit 1."""
    from modeldeploy.cli import main as cli_main

    def explode(args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.delenv(cli_main.DEBUG_ENV, raising=False)
    args = cli_main.build_parser().parse_args(["crd"])
    args.run = explode
    assert cli_main.run_parsed(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disk on fire" in err and "RuntimeError" in err
    monkeypatch.setenv(cli_main.DEBUG_ENV, "1")
    with pytest.raises(RuntimeError):
        cli_main.run_parsed(args)
