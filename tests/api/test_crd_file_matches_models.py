"""crds/ holds exactly what `modeldeploy crd` generates from the models, one file per kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modeldeploy.operator.api import crd
from tests.api.conftest import REPO_ROOT


def _crd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modeldeploy", "crd", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )


@pytest.mark.parametrize("definition", crd.DEFINITIONS, ids=lambda d: d.kind)
def test_crd_file_equals_generated_output(definition: crd.Definition) -> None:
    on_disk = (REPO_ROOT / definition.file).read_text()
    assert on_disk == crd.render_crd_yaml(definition=definition), (
        "crds/ drifted from the models: run `make crd`"
    )


def test_crds_folder_holds_one_file_per_kind() -> None:
    assert sorted(p.name for p in (REPO_ROOT / "crds").iterdir()) == sorted(
        Path(f).name for f in crd.CRD_FILES
    )


def test_crd_command_prints_every_file_model_deployment_first() -> None:
    result = _crd()
    assert result.returncode == 0, result.stderr
    files = [(REPO_ROOT / f).read_text() for f in crd.CRD_FILES]
    assert result.stdout == "---\n".join(files)
    kinds = [doc["spec"]["names"]["kind"] for doc in yaml.safe_load_all(result.stdout)]
    assert kinds == ["ModelDeployment", "ModelCache"]


def test_crd_command_writes_the_files(tmp_path: Path) -> None:
    result = _crd("--output-dir", str(tmp_path))
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    for name in crd.CRD_FILES:
        assert (tmp_path / Path(name).name).read_text() == (REPO_ROOT / name).read_text()


def test_crd_command_names_a_missing_output_dir(tmp_path: Path) -> None:
    result = _crd("--output-dir", str(tmp_path / "absent"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "absent" in result.stderr


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
    assert columns[:6] == ["READY", "PHASE", "MODEL", "PROGRESS", "REVISION", "AGE"]


def test_model_cache_crd_names_subresources_and_columns() -> None:
    body = crd.build_crd(definition=crd.MODEL_CACHE)
    spec = body["spec"]
    assert body["metadata"]["name"] == "modelcaches.modeldeploy.io"
    assert (spec["group"], spec["scope"]) == ("modeldeploy.io", "Namespaced")
    assert spec["names"] | {"categories": None} == {
        "kind": "ModelCache",
        "listKind": "ModelCacheList",
        "plural": "modelcaches",
        "singular": "modelcache",
        "shortNames": ["mcache"],
        "categories": None,
    }
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"].upper(): c for c in version["additionalPrinterColumns"]}
    assert list(columns)[:5] == ["MODELS", "USED", "CAPACITY", "LAST-VERIFIED", "AGE"]
    assert columns["MODELS"]["jsonPath"] == ".status.modelCount"
    assert columns["USED"]["jsonPath"] == ".status.used"
    assert columns["CAPACITY"]["jsonPath"] == ".status.capacity"
    assert columns["LAST-VERIFIED"] == columns["LAST-VERIFIED"] | {
        "type": "date",
        "jsonPath": ".status.lastVerified",
    }
