"""Where the pinned binaries are (hack/build-tools.sh) and whether a cluster can run here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SUPPORT = Path(__file__).resolve().parents[1]
REPO = SUPPORT.parents[1]
NODES_DIR = SUPPORT / "nodes"
KWOK_STAGES_DIR = SUPPORT / "kwok"
BUILD_SCRIPT = REPO / "hack" / "build-tools.sh"
E2E_KUBECONFIG_ENV = "MODELDEPLOY_E2E_KUBECONFIG"
TOOLS_BIN_ENV = "MODELDEPLOY_TOOLS_BIN"
REQUIRED_BINARIES = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl",
)  # fmt: skip
NODE_BINARIES = ("kubelet", "kube-proxy", "coredns")
# hack/build-tools.sh components for a real node: the default set plus kubelet (and kube-proxy)
# and coredns (its cluster DNS).
NODE_TOOLS = "etcd k8s kwok helm kubelet coredns"


def find_bin_dir(*, node: bool = False) -> Path | None:
    """The directory holding every required binary, or None when they are not built yet.

    MODELDEPLOY_TOOLS_BIN wins; otherwise hack/build-tools.sh --print computes the cache key of
    the pinned inputs and names the directory only if everything is built (it never builds).
    With `node`, kubelet and kube-proxy are required too (a real node).
    """
    if override := os.environ.get(TOOLS_BIN_ENV):
        candidate: Path | None = Path(override)
    else:
        candidate = _printed_bin_dir(NODE_TOOLS if node else None)
    required = (*REQUIRED_BINARIES, *(NODE_BINARIES if node else ()))
    if candidate is None or not all((candidate / b).exists() for b in required):
        return None
    return candidate


def find_coredns_dir() -> Path | None:
    """The directory holding coredns, or None when it is not built (needs no kubelet): that of
    MODELDEPLOY_TOOLS_BIN, else hack/build-tools.sh --print for the coredns component alone."""
    for candidate in (os.environ.get(TOOLS_BIN_ENV), _printed_bin_dir("coredns")):
        if candidate and (Path(candidate) / "coredns").exists():
            return Path(candidate)
    return None


def _printed_bin_dir(components: str | None) -> Path | None:
    """What hack/build-tools.sh --print names for COMPONENTS (its default set when None)."""
    env = {**os.environ, "MODELDEPLOY_TOOLS": components} if components else None
    try:
        done = subprocess.run(
            [str(BUILD_SCRIPT), "--print"],
            capture_output=True, text=True, timeout=60, check=False, env=env,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def unavailable_reason() -> str | None:
    """Why no cluster can be had here (for pytest.skip), or None when one can."""
    if os.environ.get(E2E_KUBECONFIG_ENV):
        return None
    if shutil.which("openssl") is None:
        return "openssl not found: needed to make the test cluster's certificates"
    if find_bin_dir() is None:
        return "Kubernetes test binaries not built: run hack/build-tools.sh (see docs/testing.md)"
    return None
