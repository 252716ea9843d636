"""The chart installs exactly the CRD generated from the API models (one source of truth).

The chart holds a copy (Helm warns on every command about a symlink in a chart), refreshed by
`make crd`; this test fails when the two drift apart.
"""

from __future__ import annotations

from tests.chart.rendering import CHART, REPO

CRD_FILE = "modeldeploy.io_modeldeployments.yaml"


def test_chart_crd_is_byte_identical_to_the_generated_file() -> None:
    generated = (REPO / "crds" / CRD_FILE).read_bytes()
    shipped = (CHART / "crds" / CRD_FILE).read_bytes()
    assert shipped == generated, "charts/modeldeploy/crds is stale: run `make crd`"


def test_chart_crds_folder_holds_nothing_else() -> None:
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == [CRD_FILE]
