"""Helpers of the end-to-end suite: the operator as a subprocess, a loopback hub, manifests.

Honesty note: the cluster's nodes are simulated by kwok. Pods are scheduled by the real
kube-scheduler and marked Running by kwok, but no container ever runs, so no runtime ever
answers /status. The operator is started with MODELDEPLOY_STATUS_NETWORKS=127.0.0.0/8, so
it never sends a request off loopback: with kwok's loopback pod IPs (127.244.0.0/16) it
really asks `GET http://<pod IP>:<port>/status`, on a port picked free for each
ModelDeployment, and is refused; with an older fixture's 10.244.0.0/16 pod IPs it does not
ask at all. Either way every replica must be reported Unreachable — never Ready.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster import Cluster
from tests.support.cluster.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "modeldeploy.io_modeldeployments.yaml"
CRD_FILES = (CRD_FILE, ROOT / "crds" / "modeldeploy.io_modelcaches.yaml")
GIB = 1 << 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    """`modeldeploy operator` run against the test cluster, stopped by its PID."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        hub_endpoint: str,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "MODELDEPLOY_DEFAULT_ENDPOINT": hub_endpoint,
            "MODELDEPLOY_STATUS_NETWORKS": "127.0.0.0/8",
            "MODELDEPLOY_STATUS_POLL_SECONDS": "2",
            "MODELDEPLOY_RESOLVE_SECONDS": "3",
            "MODELDEPLOY_RUNTIME_IMAGE": "example.invalid/modeldeploy:e2e",
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "modeldeploy",
            "operator",
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(self.health_port),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        eventually(self._healthy, bool, what="the operator's liveness endpoint", timeout=60)

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"the operator exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        return http_get(f"http://127.0.0.1:{self.health_port}/healthz") is not None

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def http_get(url: str, *, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
            return str(response.read().decode())
    except OSError:
        return None


def model_deployment(name: str, *, namespace: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": {"repo": "acme/tiny"}, "runtime": {"port": free_port()}}
    body.update(spec)
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def apply(
    cluster: Cluster, *objects: dict[str, Any], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply -f -`, as a user would."""
    return cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects), check=check)


def get(cluster: Cluster, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    done = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def items(
    cluster: Cluster, kind: str, namespace: str, selector: str | None = None
) -> list[dict[str, Any]]:
    args = ["get", kind, "-n", namespace]
    if selector:
        args += ["-l", selector]
    return list(cluster.kubectl_json(*args)["items"])


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def wait_status(
    cluster: Cluster,
    name: str,
    namespace: str,
    accept: Callable[[dict[str, Any]], bool],
    *,
    what: str,
    timeout: float = 60,
) -> dict[str, Any]:
    def observe() -> dict[str, Any]:
        return get(cluster, "modeldeployment", name, namespace) or {}

    return eventually(observe, lambda obj: bool(obj) and accept(obj), what=what, timeout=timeout)


def wait_for(
    observe: Callable[[], Any], accept: Callable[[Any], bool], *, what: str, timeout: float = 60
) -> Any:
    return eventually(observe, accept, what=what, timeout=timeout)


def huge_safetensors(n_bytes: int) -> bytes:
    """A safetensors file whose header declares `n_bytes` of weights but carries none.

    The operator's size estimate reads only the header (two Range requests), so a
    200 GB model costs a few bytes here.
    """
    elements = n_bytes // 2
    header = {"w": {"dtype": "BF16", "shape": [elements], "data_offsets": [0, elements * 2]}}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


@contextmanager
def manual_volume(
    cluster: Cluster, name: str, *, storage_class: str, size: str = "10Gi"
) -> Iterator[None]:
    """A pre-made PersistentVolume (the test cluster has no provisioner; kwok never mounts it)."""
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "storageClassName": storage_class,
            "persistentVolumeReclaimPolicy": "Delete",
            "hostPath": {"path": f"/tmp/{name}"},
        },
    }
    apply(cluster, pv)
    try:
        yield
    finally:
        cluster.kubectl("delete", "pv", name, "--wait=false", check=False)


def settle(seconds: float) -> None:
    """Give the operator time to (not) act, for tests that check something does NOT happen."""
    time.sleep(seconds)
