"""bench/goals.py: a missed goal makes a bench script exit 1, all goals met exit 0, setup 2."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# bench/ is not installed and pytest (importlib mode) does not put the repository root on
# sys.path, so the module is loaded from its file; the scripts import it as `bench.goals`.
_spec = importlib.util.spec_from_file_location("bench.goals", REPO_ROOT / "bench" / "goals.py")
assert _spec is not None and _spec.loader is not None
goals = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = goals
_spec.loader.exec_module(goals)

# A bench script in miniature: one goal, the measured value from argv, the shared exit logic.
SCRIPT = textwrap.dedent(
    """
    import sys
    from bench import goals

    RATIO = goals.Goal("ours / theirs", "<=", 1.0)

    def main() -> int:
        if sys.argv[1] == "setup":
            raise goals.SetupError("tool not built")
        return goals.verdict({RATIO: float(sys.argv[1])})

    sys.exit(goals.exit_status(main))
    """
)


def bench(value: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, value],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip


def test_a_missed_goal_exits_1_and_says_fail() -> None:
    done = bench("1.25")
    assert done.returncode == goals.MISSED == 1, done.stderr
    assert re.search(r"^FAIL  ours / theirs +1\.25  \(goal <= 1\)$", done.stdout, re.M)
    assert "goals: 1 of 1 missed: ours / theirs" in done.stdout


def test_every_goal_met_exits_0_and_says_pass() -> None:
    done = bench("0.8")
    assert done.returncode == goals.MET == 0, done.stderr
    assert re.search(r"^PASS  ours / theirs +0\.8  \(goal <= 1\)$", done.stdout, re.M)
    assert "goals: all 1 met" in done.stdout


def test_a_setup_error_exits_2_with_one_line() -> None:
    done = bench("setup")
    assert done.returncode == goals.SETUP == 2
    assert done.stderr.strip().endswith("cannot run here: tool not built")
    assert "Traceback" not in done.stderr


def test_one_miss_among_several_fails_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    fast = goals.Goal("p50", "<", 1.0, unit="s")
    small = goals.Goal("RSS", "<", 250.0, unit="MB")
    assert goals.verdict({fast: 0.25, small: 300.0}) == goals.MISSED
    lines = capsys.readouterr().out.splitlines()
    assert [line[:4] for line in lines if line[:4] in ("PASS", "FAIL")] == ["PASS", "FAIL"]
    assert "300 MB  (goal < 250 MB)" in lines[-2]


@pytest.mark.parametrize(
    ("comparison", "value", "met"),
    [("<=", 1.0, True), ("<", 1.0, False), ("<", 0.99, True), ("<=", 1.01, False),
     ("<=", math.nan, False), ("<", math.nan, False)],
)  # fmt: skip
def test_threshold_is_compared_as_stated(comparison: str, value: float, met: bool) -> None:
    goal = goals.Goal("ratio", comparison, 1.0)
    assert goal.met_by(value) is met
