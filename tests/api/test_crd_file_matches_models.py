"""crds/ holds exactly what `modeldeploy crd` generates from the models."""

from __future__ import annotations

import subprocess
import sys

from modeldeploy.operator.api import crd
from tests.api.conftest import REPO_ROOT


def test_crd_file_equals_generated_output() -> None:
    on_disk = (REPO_ROOT / crd.CRD_FILE).read_text()
    assert on_disk == crd.render_crd_yaml(), "crds/ drifted from the models: run `make crd`"


def test_crd_command_prints_the_same_bytes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modeldeploy", "crd"], capture_output=True, text=True, check=True
    )
    assert result.stdout == (REPO_ROOT / crd.CRD_FILE).read_text()


def test_crd_names_subresources_and_columns() -> None:
    body = crd.build_crd()
    spec = body["spec"]
    assert body["metadata"]["name"] == "modeldeployments.modeldeploy.io"
    assert spec["names"]["shortNames"] == ["mdep"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = [c["name"].upper() for c in version["additionalPrinterColumns"]]
    assert columns[:5] == ["READY", "PHASE", "PROGRESS", "REVISION", "AGE"]
