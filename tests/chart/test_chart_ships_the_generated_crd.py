"""The chart installs exactly the CRDs generated from the API models (one source of truth).

The chart holds a copy (Helm warns on every command about a symlink in a chart), refreshed by
`make crd`; this test fails when the two drift apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.operator.api import crd
from tests.chart.rendering import CHART, REPO

CRD_FILES = [Path(name).name for name in crd.CRD_FILES]


@pytest.mark.parametrize("name", CRD_FILES)
def test_chart_crd_is_byte_identical_to_the_generated_file(name: str) -> None:
    generated = (REPO / "crds" / name).read_bytes()
    shipped = (CHART / "crds" / name).read_bytes()
    assert shipped == generated, "charts/modeldeploy/crds is stale: run `make crd`"


def test_chart_ships_both_kinds_and_nothing_else() -> None:
    assert sorted(CRD_FILES) == [
        "modeldeploy.io_modelcaches.yaml",
        "modeldeploy.io_modeldeployments.yaml",
    ]
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == sorted(CRD_FILES)
