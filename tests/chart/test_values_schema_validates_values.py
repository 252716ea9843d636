"""values.schema.json accepts the shipped values and refuses mistakes before anything renders."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart import rendering
from tests.chart.rendering import CHART, CI_VALUES


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def defaults() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def errors_for(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema())
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)
    ]


def merged(overrides: dict[str, Any]) -> dict[str, Any]:
    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(base)
        for key, value in extra.items():
            both_maps = isinstance(value, dict) and isinstance(out.get(key), dict)
            out[key] = merge(out[key], value) if both_maps else value
        return out

    return merge(defaults(), overrides)


def test_schema_is_a_valid_draft7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(schema())


@pytest.mark.parametrize("path", [CHART / "values.yaml", *CI_VALUES], ids=lambda p: p.name)
def test_shipped_values_files_are_valid(path: Path) -> None:
    assert errors_for(merged(yaml.safe_load(path.read_text()))) == []


def test_every_default_value_is_described_by_the_schema() -> None:
    # additionalProperties: false at the top: a value added to values.yaml without a schema
    # entry fails here, so the schema never falls behind.
    assert set(defaults()) == set(schema()["properties"])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"serviceMonitor": {"enabeld": True}}, "serviceMonitor"),
        ({"replicaCount": 2}, "replicaCount"),
        ({"watchNamespaces": ["Not_A_Namespace"]}, "watchNamespaces/0"),
        ({"image": {"digest": "latest"}}, "image/digest"),
        ({"operator": {"healthPort": 70000}}, "operator/healthPort"),
        ({"operator": {"statusNetworks": ["10.0.0.0"]}}, "operator/statusNetworks/0"),
        ({"hub": {"endpoint": "hub-mirror:8090"}}, "hub/endpoint"),
        ({"runtime": {"vllm": {"cpuimage": "x"}}}, "runtime/vllm"),
        ({"runtime": {"vllm": {"image": 7}}}, "runtime/vllm/image"),
        ({"resources": {"limits": {"memory": "lots"}}}, "resources/limits/memory"),
        ({"serviceMonitor": {"interval": "30"}}, "serviceMonitor/interval"),
        (
            {"networkPolicy": {"runtimePodSelector": {"app": 1}}},
            "networkPolicy/runtimePodSelector/app",
        ),
    ],
)
def test_schema_refuses_and_names_the_bad_field(overrides: dict[str, Any], field: str) -> None:
    errors = errors_for(merged(overrides))
    assert errors, f"{overrides} was accepted"
    assert any(e.startswith(f"{field}:") for e in errors), errors


def test_helm_refuses_two_operator_replicas(helm_bin: Path) -> None:
    done = rendering.helm(
        helm_bin, "template", "x", str(CHART), "--set=replicaCount=2", check=False
    )
    assert done.returncode != 0
    assert "replicaCount" in done.stderr
