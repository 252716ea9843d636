"""What may skip, and what a skip means under CI: the one place that decides.

A test that cannot run here calls `cannot_run(reason)` (or skips any other way): outside CI that
is a skip with the reason; under CI (the CI environment variable set) the hook in
tests/conftest.py turns it into a failure, unless the reason is in ALLOWED below. CI cannot pass
by skipping: every part of the suite runs there, or the run is red.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

NO_DISK_FOR_VLLM_IMAGE = "no disk for the vLLM image (hack/setup.sh said so)"

# Skips that CI accepts, by their exact reason, each with why it cannot run on a CI machine.
ALLOWED: dict[str, str] = {
    "needs a CUDA device": (
        "CI machines have no GPU; the CUDA paths are checked on the device machine "
        "(docs/testing.md)"
    ),
    "checks the machine without CUDA": (
        "the one test of a machine without CUDA; it skips only where CUDA is present"
    ),
    NO_DISK_FOR_VLLM_IMAGE: (
        "the vLLM CPU image needs ~27 GB more at the peak (its build and its import into the "
        "node); hack/setup.sh builds it only where the disk check found that room, and says so"
    ),
}


def under_ci() -> bool:
    return bool(os.environ.get("CI"))


def cannot_run(reason: str) -> NoReturn:
    """Skip with `reason` (under CI the conftest hook makes it a failure, unless allowed)."""
    pytest.skip(reason)


def reason_of(longrepr: object) -> str:
    """The reason of a skip report: pytest stores (path, line, 'Skipped: reason')."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
        return text.removeprefix("Skipped: ")
    return str(longrepr)


def allowed(reason: str) -> bool:
    return reason in ALLOWED
