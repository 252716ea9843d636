"""Every object the chart renders is valid against the Kubernetes OpenAPI schemas.

kubernetes-validate (strict: unknown fields are errors, so a mis-indented key fails) checks each
object for the oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and for the version
of the test control plane (tools/k8s). ServiceMonitor is a Prometheus Operator CRD, which
kubernetes-validate cannot know: it is skipped there, on purpose, and checked by hand below.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.chart import rendering
from tests.chart.rendering import CHART, CI_VALUES, REPO

NOT_IN_KUBERNETES_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def oldest_supported() -> str:
    constraint = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    found = re.match(r">=\s*(\d+\.\d+)", constraint)
    assert found, f"kubeVersion {constraint!r} has no lower bound"
    return found.group(1)


def control_plane_version() -> str:
    found = re.search(
        r"k8s\.io/kubernetes v(\d+\.\d+)\.\d+", (REPO / "tools/k8s/go.mod").read_text()
    )
    assert found, "tools/k8s/go.mod pins no k8s.io/kubernetes"
    return found.group(1)


VERSIONS = [oldest_supported(), control_plane_version()]
VALUES = [None, *CI_VALUES]


def validate(obj: dict[str, Any], version: str) -> str | None:
    """None when valid; else the first error, naming the object and the field."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path))
        return f"{obj['kind']}/{obj['metadata']['name']} at {where}: {exc.message}"
    return None


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("values", VALUES, ids=["defaults", *(v.stem for v in CI_VALUES)])
def test_every_rendered_object_is_valid(helm_bin: Path, values: Path | None, version: str) -> None:
    objects = rendering.render(helm_bin, values_files=[values] if values else [])
    checked = [o for o in objects if (o["apiVersion"], o["kind"]) not in NOT_IN_KUBERNETES_SCHEMAS]
    assert checked, "nothing rendered"
    errors = [e for e in (validate(o, version) for o in checked) if e]
    assert errors == []


@pytest.mark.parametrize("name", ["modeldeploy.io_modeldeployments.yaml",
                                  "modeldeploy.io_modelcaches.yaml"])  # fmt: skip
def test_the_generated_crd_is_a_valid_customresourcedefinition(name: str) -> None:
    crd = yaml.safe_load((CHART / "crds" / name).read_text())
    assert validate(crd, control_plane_version()) is None


def test_a_schema_violation_is_reported() -> None:
    # The check itself must be able to fail: a misspelt container field is refused.
    bad = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Sometimes",
                                 "readOnlyRootFilesytem": True}]},
    }  # fmt: skip
    assert validate(bad, control_plane_version()) is not None


def test_the_skipped_service_monitor_scrapes_the_metrics_service(helm_bin: Path) -> None:
    objects = rendering.render(helm_bin, sets=["serviceMonitor.enabled=true"])
    monitor = rendering.one(objects, "ServiceMonitor")
    service = rendering.one(objects, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [rendering.RELEASE_NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert set(monitor["spec"]) <= {"selector", "namespaceSelector", "endpoints"}
