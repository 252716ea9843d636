"""A reader that stops early (`modeldeploy render FILE | head -1`) ends the command quietly:
exit 141 (a shell's status for `cat` in the same pipeline), no traceback, no error line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "cpu-tiny-chat.yaml"


def run_into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """stdout is a pipe whose reader is gone before the first write (`| true`, deterministic)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-m", "modeldeploy", *args],
            stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.close(writer)


@pytest.mark.parametrize("args", [["crd"], ["render", str(EXAMPLE)]], ids=["crd", "render"])
def test_a_closed_stdout_ends_quietly_with_141(args: list[str]) -> None:
    result = run_into_a_closed_pipe(*args)

    assert result.returncode == 141
    assert result.stderr == ""


def test_a_broken_pipe_that_is_not_the_output_is_still_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A socket's peer going away is a failure, not a reader leaving: one line, exit 1."""
    from modeldeploy.cli import main as cli_main

    def peer_gone(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    args = cli_main.build_parser().parse_args(["crd"])
    args.run = peer_gone
    assert cli_main.run_parsed(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BrokenPipeError" in err
