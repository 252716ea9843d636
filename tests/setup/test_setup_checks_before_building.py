"""hack/setup.sh, the one set-up step of `make demo` and `make test`: it checks in seconds what
would make a later step fail, and says so with the command to run, before building anything."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "hack" / "setup.sh"


def run_setup(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SETUP), *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.fixture
def running_node_claim(tmp_path: Path) -> Iterator[Path]:
    """A claim file like a running node's: its state dir records a live process."""
    state = tmp_path / "modeldeploy-cluster-x"
    (state / "pids").mkdir(parents=True)
    with subprocess.Popen(["sleep", "60"]) as alive:
        (state / "pids" / "01-kubelet.pid").write_text(f"{alive.pid} 0\n")
        claim = tmp_path / "node.claim"
        claim.write_text(str(state))
        yield claim
        alive.kill()


def test_tests_stop_at_once_while_a_real_node_runs(running_node_claim: Path) -> None:
    began = time.monotonic()
    done = run_setup("test", env={"MODELDEPLOY_NODE_CLAIM": str(running_node_claim)})
    assert done.returncode == 1
    assert "a real node is running" in done.stderr
    assert "run: make demo-down" in done.stderr
    assert done.stdout == ""  # nothing for the Makefile to eval: no half-set environment
    assert time.monotonic() - began < 30  # before any build step


def test_a_claim_whose_processes_are_gone_does_not_stop_the_tests(tmp_path: Path) -> None:
    state = tmp_path / "modeldeploy-cluster-y"
    (state / "pids").mkdir(parents=True)
    with subprocess.Popen(["true"]) as gone:
        gone.wait()
    (state / "pids" / "01-kubelet.pid").write_text(f"{gone.pid} 0\n")
    claim = tmp_path / "node.claim"
    claim.write_text(str(state))
    done = run_setup("check", env={"MODELDEPLOY_NODE_CLAIM": str(claim)})
    assert "a real node is running" not in done.stderr


def test_check_prints_the_plan_and_which_test_parts_run_without_building(tmp_path: Path) -> None:
    # No claim: the suite's own real node (a session fixture) may be running meanwhile.
    done = run_setup("check", env={"MODELDEPLOY_NODE_CLAIM": str(tmp_path / "none")})
    assert done.returncode == 0, done.stderr
    assert "[setup] plan (check):" in done.stderr
    for part in ("python environment:", "kubernetes tools", "disk: ~"):
        assert part in done.stderr
    assert "test parts: unit control-plane" in done.stderr
    assert done.stdout == ""


def test_an_unknown_purpose_is_a_usage_error() -> None:
    done = run_setup("deploy")
    assert done.returncode == 2
    assert "usage: hack/setup.sh demo|test|check" in done.stderr
