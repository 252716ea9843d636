"""Running the real operator under the chart's RBAC, for the tests that need it.

Shared by tests/chart/test_chart_rbac_covers_operator.py (the operator as a local process) and
tests/image/test_image_runs_operator_like_the_chart.py (the operator from the built image).
Everything talks to a control plane of etcd and kube-apiserver only (no controllers, no kwok):
nothing creates pods, so the operator never polls a runtime pod's IP nor asks for a log through
a simulated node's address, and all traffic stays on loopback.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart import rendering
from tests.support.cluster import Cluster, running_cluster, unavailable_reason
from tests.support.cluster.polling import eventually
from tests.support.hubserver import HubServer, safetensors_bytes

OPERATOR_NAMESPACE = "modeldeploy-system"
REPO_ID = "acme/tiny-chat"
FORBIDDEN_MARKERS = ("Forbidden", " 403", "forbidden")
SHARED_CACHE = "shared"
SHARED_USER = "shared-user"
EXPECTED_CHILDREN = {
    "PersistentVolumeClaim/cached-cache",
    "Deployment/uncached",
    "Service/uncached",
}
# Never poll pod IPs (nothing runs them here): only loopback is allowed.
OPERATOR_ENV = {
    "MODELDEPLOY_STATUS_NETWORKS": "127.0.0.1/32",
    "MODELDEPLOY_STATUS_POLL_SECONDS": "2",
}


@contextlib.contextmanager
def control_plane_with_crd() -> Iterator[Cluster]:
    """etcd + kube-apiserver with the chart's CRDs established (skips when not built)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_cluster(full=False) as cluster:
        cluster.kubectl("apply", "--server-side", f"--filename={rendering.CHART / 'crds'}")
        cluster.kubectl(
            "wait", "--for=condition=Established", "crd/modeldeployments.modeldeploy.io",
            "crd/modelcaches.modeldeploy.io", "--timeout=30s",
        )  # fmt: skip
        yield cluster


@contextlib.contextmanager
def hub_with_tiny_model() -> Iterator[HubServer]:
    """A loopback hub serving REPO_ID (a config and a small safetensors file)."""
    with HubServer() as server:
        weights = safetensors_bytes({"embed.weight": ("F32", (64, 16))})
        config = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
        server.add_repo(REPO_ID, {"config.json": config.encode(), "model.safetensors": weights})
        yield server


def chart_values(mode: str, namespace: str) -> list[str]:
    """--set values for a watch mode: all namespaces, or only `namespace`."""
    return [] if mode == "cluster-wide" else [f"watchNamespaces={{{namespace}}}"]


def install_rbac(cluster: Cluster, helm_bin: Path, *, release: str, sets: list[str]) -> str:
    """Apply the chart's ServiceAccount and RBAC as rendered; return the account's name."""
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    args = [
        "template", release, str(rendering.CHART), f"--namespace={OPERATOR_NAMESPACE}",
        "--show-only=templates/serviceaccount.yaml", "--show-only=templates/rbac.yaml",
        *rendering.value_args(sets=sets),
    ]  # fmt: skip
    manifest = rendering.helm(helm_bin, *args).stdout
    cluster.kubectl("apply", "--filename=-", stdin=manifest)
    (account,) = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "ServiceAccount"]
    return str(account["metadata"]["name"])


def token_kubeconfig(cluster: Cluster, account: str, path: Path) -> Path:
    """A self-contained kubeconfig (CA inline) whose only credential is a token of `account`."""
    token = cluster.kubectl(
        "create", "token", account, f"--namespace={OPERATOR_NAMESPACE}", "--duration=1h"
    ).stdout.strip()
    raw = cluster.kubectl("config", "view", "--minify", "--raw", "--flatten", "-o", "json").stdout
    config = json.loads(raw)
    config["users"][0]["user"] = {"token": token}
    path.write_text(json.dumps(config))
    return path


def new_namespace(cluster: Cluster) -> str:
    name = f"models-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    return name


def model_deployment(name: str, *, endpoint: str, cached: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"repo": REPO_ID, "revision": "main", "endpoint": endpoint},
        "task": "text-generation",
        "replicas": 1,
        "gpu": {"count": 0},
    }
    if cached:
        spec["cache"] = {
            "storageClassName": "standard",
            "size": "1Gi",
            "accessMode": "ReadWriteOnce",
        }
    return {
        "apiVersion": "modeldeploy.io/v1alpha1", "kind": "ModelDeployment",
        "metadata": {"name": name}, "spec": spec,
    }  # fmt: skip


def model_cache(name: str, *, endpoint: str) -> dict[str, Any]:
    """A ModelCache preloading REPO_ID: its volume and fetch Job come from the operator."""
    return {
        "apiVersion": "modeldeploy.io/v1alpha1", "kind": "ModelCache",
        "metadata": {"name": name},
        "spec": {"storage": {"storageClassName": "standard", "size": "1Gi"},
                 "preload": [{"repo": REPO_ID, "endpoint": endpoint}]},
    }  # fmt: skip


def apply_cached_and_uncached(cluster: Cluster, namespace: str, hub: HubServer) -> None:
    """An inline-cached and an uncached ModelDeployment, and a ModelCache with one user."""
    for name, cached in (("cached", True), ("uncached", False)):
        manifest = json.dumps(model_deployment(name, endpoint=hub.endpoint, cached=cached))
        cluster.kubectl("apply", f"--namespace={namespace}", "--filename=-", stdin=manifest)
    shared = model_deployment(SHARED_USER, endpoint=hub.endpoint, cached=False)
    shared["spec"]["cache"] = {"name": SHARED_CACHE}
    for obj in (model_cache(SHARED_CACHE, endpoint=hub.endpoint), shared):
        cluster.kubectl("apply", f"--namespace={namespace}", "--filename=-", stdin=json.dumps(obj))


def children(cluster: Cluster, namespace: str) -> set[str]:
    listed = cluster.kubectl_json(
        "get", "deployments.apps,services,persistentvolumeclaims,jobs.batch",
        f"--namespace={namespace}", "--selector=app.kubernetes.io/managed-by=modeldeploy",
    )  # fmt: skip
    return {f"{o['kind']}/{o['metadata']['name']}" for o in listed["items"]}


def wait_for_children(cluster: Cluster, namespace: str, *, log: Path) -> set[str]:
    """The children of the cached and uncached ModelDeployments, once all are applied."""

    def observe() -> set[str]:
        return children(cluster, namespace)

    def complete(seen: set[str]) -> bool:
        return seen >= EXPECTED_CHILDREN and any(s.startswith("Job/") for s in seen)

    return eventually(observe, complete, what=f"children applied (operator log {log})", timeout=60)


def wait_for_status(
    cluster: Cluster, namespace: str, name: str, *, kind: str = "modeldeployment"
) -> dict[str, Any]:
    """The status once the operator has written it for generation 1 (a phase, for a
    ModelDeployment)."""

    def observe() -> dict[str, Any]:
        obj = cluster.kubectl_json("get", kind, name, f"--namespace={namespace}")
        status: dict[str, Any] = obj.get("status") or {}
        return status

    def written(status: dict[str, Any]) -> bool:
        phase_written = kind != "modeldeployment" or bool(status.get("phase"))
        return phase_written and status.get("observedGeneration") == 1

    return eventually(observe, written, what=f"status of {name} written", timeout=60)


def forbidden_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(m in line for m in FORBIDDEN_MARKERS)]
