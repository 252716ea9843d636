"""Rendering the Helm chart in tests: find helm, run `helm template`, pick objects by kind.

helm is built from source by hack/build-tools.sh (pinned in tools/helm); tests that need it
skip, with the reason, until it is built (CI builds it first). MODELDEPLOY_HELM names another
binary; a helm on PATH is used only when neither is available.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modeldeploy"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
BUILD_SCRIPT = REPO / "hack" / "build-tools.sh"
HELM_ENV = "MODELDEPLOY_HELM"
RELEASE = "md"
RELEASE_NAMESPACE = "modeldeploy-system"


def find_helm() -> Path | None:
    """The helm binary: $MODELDEPLOY_HELM, else hack/build-tools.sh's, else one on PATH."""
    if override := os.environ.get(HELM_ENV):
        return Path(override)
    try:
        done = subprocess.run(
            [str(BUILD_SCRIPT), "--print"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is not None and done.returncode == 0:
        candidate = Path(done.stdout.strip()) / "helm"
        if candidate.exists():
            return candidate
    on_path = shutil.which("helm")
    return Path(on_path) if on_path else None


def helm(binary: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm; with check, a failure raises with helm's own stderr."""
    done = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HELM_CACHE_HOME": "/tmp/modeldeploy-helm-cache"},
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def value_args(values_files: Iterable[Path] = (), sets: Iterable[str] = ()) -> list[str]:
    args = [f"--values={f}" for f in values_files]
    return args + [f"--set={s}" for s in sets]


def render(
    binary: Path, *, values_files: Iterable[Path] = (), sets: Iterable[str] = (),
    show_only: Sequence[str] = (), api_versions: Sequence[str] = (),
) -> list[dict[str, Any]]:  # fmt: skip
    """`helm template` of the chart, parsed: one dict per rendered object (CRDs not included)."""
    args = ["template", RELEASE, str(CHART), f"--namespace={RELEASE_NAMESPACE}"]
    args += value_args(values_files, sets)
    args += [f"--show-only={s}" for s in show_only]
    args += [f"--api-versions={v}" for v in api_versions]
    out = helm(binary, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def operator_container(objects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "operator"]
    return dict(container)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """The container's literal environment variables (valueFrom entries left out)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
