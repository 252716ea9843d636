"""The chart is released with the package: version and appVersion equal pyproject's version."""

from __future__ import annotations

import tomllib

import yaml

from tests.chart.rendering import CHART, REPO


def package_version() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def test_chart_version_and_app_version_are_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == package_version()
    # A string, not a YAML number: "0.10" must not become 0.1.
    assert isinstance(chart["appVersion"], str)
    assert chart["appVersion"] == package_version()


def test_default_images_follow_the_app_version() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    # Empty tags mean "<appVersion>-operator" and "<appVersion>": nothing to bump by hand.
    assert values["image"]["tag"] == ""
    assert values["runtime"]["image"] == ""
