"""`modeldeploy cache`: listed in the help, each subcommand with its own, and `cache ls`
starting without the heavy libraries (it runs in Jobs and on laptops alike)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cacheroots import commit_of, verified_model

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("huggingface_hub", "pydantic", "httpx2", "torch", "kopf", "aiohttp", "yaml")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=120,
    )


def test_cache_is_in_the_help_with_its_three_commands():
    top = _run("-m", "modeldeploy", "--help")
    cache = _run("-m", "modeldeploy", "cache", "--help")

    assert top.returncode == 0 and "    cache" in top.stdout
    assert cache.returncode == 0
    assert all(f"    {name}" in cache.stdout for name in ("ls", "verify", "gc"))


@pytest.mark.parametrize("name", ["ls", "verify", "gc"])
def test_each_cache_command_has_its_own_help(name: str):
    result = _run("-m", "modeldeploy", "cache", name, "--help")

    assert result.returncode == 0 and f"usage: modeldeploy cache {name}" in result.stdout


@pytest.mark.parametrize("command", ["ls", "verify"])
def test_cache_ls_and_verify_start_lean(tmp_path: Path, command: str):
    verified_model(tmp_path, "acme/tiny", commit_of("v1"))
    probe = (
        "import sys\n"
        "from modeldeploy.cli.main import main\n"
        f"code = main(['cache', {command!r}, {str(tmp_path)!r}, '--json'])\n"
        f"print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )

    result = _run("-c", probe)

    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stderr
