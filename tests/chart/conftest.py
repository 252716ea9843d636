"""Fixtures for the chart tests: the helm binary (skip when not built).

The local cluster (`cluster`, `namespace`) comes from tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart import rendering

__all__ = ["helm_bin"]


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    binary = rendering.find_helm()
    if binary is None:
        pytest.skip(
            "helm not built: run hack/build-tools.sh (builds the pinned helm from tools/helm)"
        )
    return binary
