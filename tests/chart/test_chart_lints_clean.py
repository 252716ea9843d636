"""`helm lint --strict` passes with the default values and with every ci/*-values.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart import rendering
from tests.chart.rendering import CHART, CI_VALUES


@pytest.mark.parametrize(
    "values", [None, *CI_VALUES], ids=["defaults", *(v.stem for v in CI_VALUES)]
)
def test_helm_lint_strict_reports_no_warning_or_error(helm_bin: Path, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART), *rendering.value_args([values] if values else [])]
    done = rendering.helm(helm_bin, *args)
    output = done.stdout + done.stderr
    assert "0 chart(s) failed" in output
    assert "[WARNING]" not in output and "[ERROR]" not in output, output


def test_helm_lint_fails_on_a_value_the_schema_refuses(helm_bin: Path) -> None:
    # A typo in a key must not be silently ignored (values.schema.json: additionalProperties).
    done = rendering.helm(
        helm_bin, "lint", str(CHART), "--set=serviceMonitor.enabeld=true", check=False
    )
    assert done.returncode != 0
    assert "enabeld" in done.stdout + done.stderr
