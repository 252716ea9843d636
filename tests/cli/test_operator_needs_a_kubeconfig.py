"""`modeldeploy operator` without a Kubernetes configuration exits 1 at once, naming what it
tried, instead of letting kopf retry its login forever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeldeploy.operator import kubeconfig

IN_A_POD = (kubeconfig.SERVICE_ACCOUNT / "token").is_file()


def run_operator(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The operator as a newcomer starts it: no cluster around, HOME without ~/.kube."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "MODELDEPLOY_"))}
    return subprocess.run(
        [sys.executable, "-m", "modeldeploy", "operator", "--metrics-port", "0",
         "--health-port", "0"],
        capture_output=True, text=True, timeout=60, env={**clean, "HOME": str(home), **env},
    )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    return result.stderr


@pytest.mark.skipif(IN_A_POD, reason="a service account is mounted: this is a cluster")
def test_no_configuration_anywhere_names_every_place_tried(tmp_path: Path) -> None:
    err = one_line(run_operator(tmp_path))

    assert err.startswith("modeldeploy operator: error: no Kubernetes configuration")
    assert "KUBECONFIG is not set" in err
    assert f"{tmp_path / '.kube' / 'config'} does not exist" in err
    assert "no in-cluster service account" in err and str(kubeconfig.SERVICE_ACCOUNT) in err


@pytest.mark.skipif(IN_A_POD, reason="a service account is mounted: this is a cluster")
def test_a_kubeconfig_variable_naming_a_missing_file_names_that_file(tmp_path: Path) -> None:
    missing = tmp_path / "clusters" / "dev.yaml"

    err = one_line(run_operator(tmp_path, KUBECONFIG=str(missing)))

    assert f"KUBECONFIG={missing}: the file does not exist" in err


@pytest.mark.skipif(IN_A_POD, reason="a service account is mounted: this is a cluster")
def test_a_kubeconfig_that_is_not_yaml_names_its_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nclusters: [{name: a}\nusers: []\n")

    err = one_line(run_operator(tmp_path, KUBECONFIG=str(broken)))

    assert f"{broken}:3:1: not valid YAML: expected ',' or ']'" in err


@pytest.mark.skipif(IN_A_POD, reason="a service account is mounted: this is a cluster")
def test_a_kubeconfig_without_contexts_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("apiVersion: v1\nkind: Config\nclusters: []\n")

    err = one_line(run_operator(tmp_path))

    assert f"{tmp_path / '.kube' / 'config'}: unusable Kubernetes configuration: " in err


def test_the_service_account_wins_inside_a_pod(tmp_path: Path) -> None:
    for name in ("token", "namespace"):
        (tmp_path / name).write_text("x")
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}

    found = kubeconfig.locate(environ=environ, service_account=tmp_path)

    assert found == f"in-cluster service account ({tmp_path})"


def test_a_service_account_without_the_service_variables_is_named(tmp_path: Path) -> None:
    for name in ("token", "namespace"):
        (tmp_path / name).write_text("x")

    with pytest.raises(kubeconfig.MissingConfigError) as caught:
        kubeconfig.locate(environ={"KUBECONFIG": "/nowhere"}, service_account=tmp_path)

    assert str(caught.value) == (
        f"{tmp_path}: a service account, but KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT unset"
    )


def test_outside_a_cluster_the_kubeconfig_variable_is_used(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\n")

    found = kubeconfig.locate(
        environ={"KUBECONFIG": str(config)}, service_account=tmp_path / "none"
    )

    assert found == str(config)


def test_an_empty_kubeconfig_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(kubeconfig.MissingConfigError, match="KUBECONFIG is set but empty"):
        kubeconfig.locate(environ={"KUBECONFIG": ""}, service_account=tmp_path)
