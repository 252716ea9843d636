"""Benchmark goals: each a named threshold, one PASS/FAIL line each, and the exit status.

Why: a benchmark that prints "goal <= 1.0" next to 1.4 and exits 0 is read by nobody in CI.
Every bench script states its goals as module-level `Goal`s, measures, then hands the
measured values to `verdict`, which prints one line per goal and returns the exit status.

Exit status of every bench script:

- 0 (`MET`): every goal met;
- 1 (`MISSED`): a goal missed, or the benchmark crashed (a traceback also exits 1);
- 2 (`SETUP`): it could not run here: bad options (argparse's usage errors exit 2 too) or a
  missing tool, raised as `SetupError` and turned into one line on stderr by `exit_status`.

A measured NaN (e.g. a percentile of no samples) misses every goal (every comparison with
NaN is false).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

MET, MISSED, SETUP = 0, 1, 2


class SetupError(Exception):
    """The benchmark cannot run here (a tool not built, options that contradict): exit 2."""


@dataclass(frozen=True)
class Goal:
    """`name` (what is measured) must be `comparison` `threshold` (in `unit`, if any)."""

    name: str
    comparison: Literal["<", "<=", ">", ">="]
    threshold: float
    unit: str = ""

    def met_by(self, value: float) -> bool:
        if self.comparison == "<":
            return value < self.threshold
        if self.comparison == ">":
            return value > self.threshold
        if self.comparison == ">=":
            return value >= self.threshold
        return value <= self.threshold

    def show(self, value: float) -> str:
        return f"{value:.4g} {self.unit}".rstrip()

    def __str__(self) -> str:
        return f"{self.comparison} {self.show(self.threshold)}"


def verdict(measured: Mapping[Goal, float], *, out: TextIO | None = None) -> int:
    """Print a PASS/FAIL line per goal and a summary line; `MET` if all are met, else `MISSED`."""
    if not measured:
        raise ValueError("no goals measured")
    out = out or sys.stdout
    width = max(len(goal.name) for goal in measured)
    missed = [goal.name for goal, value in measured.items() if not goal.met_by(value)]
    print(file=out)
    for goal, value in measured.items():
        mark = "PASS" if goal.met_by(value) else "FAIL"
        print(f"{mark}  {goal.name:<{width}}  {goal.show(value):>10}  (goal {goal})", file=out)
    if missed:
        print(f"goals: {len(missed)} of {len(measured)} missed: {'; '.join(missed)}", file=out)
        return MISSED
    print(f"goals: all {len(measured)} met", file=out)
    return MET


def exit_status(main: Callable[[], int]) -> int:
    """Run a bench script's `main`; a `SetupError` becomes one line on stderr and `SETUP`."""
    try:
        return main()
    except SetupError as exc:
        print(f"{Path(sys.argv[0]).name}: cannot run here: {exc}", file=sys.stderr)
        return SETUP
