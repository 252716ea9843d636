"""The operator pod meets the restricted Pod Security Standard and is probed on its health port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modeldeploy.cli import main as cli
from tests.chart import rendering
from tests.chart.rendering import CI_VALUES

VALUES = [None, *CI_VALUES]
IDS = ["defaults", *(v.stem for v in CI_VALUES)]


def rendered(helm_bin: Path, values: Path | None) -> list[dict[str, Any]]:
    return rendering.render(helm_bin, values_files=[values] if values else [])


@pytest.mark.parametrize("values", VALUES, ids=IDS)
def test_pod_and_container_security_contexts_are_restricted(
    helm_bin: Path, values: Path | None
) -> None:
    objects = rendered(helm_bin, values)
    pod = rendering.one(objects, "Deployment")["spec"]["template"]["spec"]
    container = rendering.operator_container(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in security and "hostNetwork" not in pod and "hostPID" not in pod


@pytest.mark.parametrize("values", VALUES, ids=IDS)
def test_tmp_is_the_only_writable_path(helm_bin: Path, values: Path | None) -> None:
    objects = rendered(helm_bin, values)
    pod = rendering.one(objects, "Deployment")["spec"]["template"]["spec"]
    mounts = rendering.operator_container(objects)["volumeMounts"]
    assert [m["mountPath"] for m in mounts] == ["/tmp"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mounts[0]["name"]]
    assert "emptyDir" in volume and volume["emptyDir"]["sizeLimit"]


@pytest.mark.parametrize("values", VALUES, ids=IDS)
def test_probes_hit_the_health_port_the_operator_is_told_to_serve(
    helm_bin: Path, values: Path | None
) -> None:
    container = rendering.operator_container(rendered(helm_bin, values))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = cli.build_parser().parse_args(container["args"])
    assert args.command == "operator"
    assert args.health_port == ports["health"]
    assert args.metrics_port == ports["metrics"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_one_replica_replaced_by_recreate_by_default(helm_bin: Path) -> None:
    spec = rendering.one(rendered(helm_bin, None), "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_resources_are_requested_and_memory_is_limited(helm_bin: Path) -> None:
    resources = rendering.operator_container(rendered(helm_bin, None))["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


def test_operator_runs_the_operator_image_and_entrypoint_role(helm_bin: Path) -> None:
    container = rendering.operator_container(rendered(helm_bin, None))
    assert container["image"].endswith(":0.1.0-operator")
    assert "command" not in container  # the image's entrypoint, `modeldeploy`
    assert container["args"][0] == "operator"
