"""A ModelDeployment on the real node, driven as a user would, with what every party said.

Shared by the one-command demo (hack/demo.py) and the real-node end-to-end tests
(tests/node/test_model_on_real_node.py), so the demo shows exactly what the tests check:

- `install_chart`: the chart from charts/modeldeploy, with the images built from our
  Dockerfile (imported into the node's containerd, no registry);
- `model_deployment`: the manifest a user would `kubectl apply`;
- `Watcher`: polls the API server (the ModelDeployment, its fetch Job, its pods: kubelet's own
  probe results in the Pod conditions) and each runtime's GET /status on its pod IP, reports
  every change once, and keeps the evidence: whether a pod was ever Ready while its runtime
  was not, and which pods it saw running but not Ready (kubelet still probing).
"""

from __future__ import annotations

import dataclasses
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support import skips, tinymodels
from tests.support.cluster import Cluster, ClusterError
from tests.support.cluster.probes import admin_context
from tests.support.hubserver import HubServer

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modeldeploy"
RELEASE = "modeldeploy"
OPERATOR_NAMESPACE = "modeldeploy-system"
GROUP_VERSION = "modeldeploy.io/v1alpha1"
PLURAL = "modeldeployments"
RUNTIME_PORT = 8080
LABEL_DEPLOYMENT = "modeldeploy.io/deployment"

Say = Callable[[str], None]


def image_ref(archive: Path) -> str:
    """The reference of an image archive made by hack/image/build.sh (its `image.ref` file)."""
    ref_file = archive.parent / "image.ref"
    if not ref_file.is_file():
        raise ClusterError(f"no image.ref next to {archive}: not made by hack/image/build.sh?")
    return ref_file.read_text().strip()


def node_images() -> tuple[str, str]:
    """(operator ref, runtime ref) of the archives the node fixture imported."""
    archives = [
        Path(p) for p in os.environ.get("MODELDEPLOY_NODE_IMAGES", "").split(os.pathsep) if p
    ]
    refs = [image_ref(a) for a in archives]
    operator = [r for r in refs if r.endswith("-operator")]
    runtime = [r for r in refs if not r.endswith("-operator") and "pause" not in r]
    if not operator or not runtime:
        skips.cannot_run(
            f"MODELDEPLOY_NODE_IMAGES must name the operator and runtime images, got {refs}"
        )
    return operator[0], runtime[0]


@dataclasses.dataclass
class Hosted:
    """A generated model served by a hub mirror on the pod network, the chart installed."""

    hub: HubServer
    files: dict[str, Path]
    commit: str


@contextmanager
def chart_and_model(
    cluster: Cluster,
    model_dir: Path,
    *,
    repo: str,
    namespace: str,
    approx_bytes: float | None,
    values: dict[str, str] | None = None,
    num_attention_heads: int = 4,
) -> Iterator[Hosted]:
    """A tiny causal LM generated in `model_dir`, hosted as `repo` by a hub mirror on the pod
    network; the chart installed with the node's images; `namespace` created. All of it is
    removed on the way out. (`num_attention_heads=2` for vLLM: see tinymodels.)"""
    operator_image, runtime_image = node_images()
    gateway = cluster.pod_gateway
    assert gateway and cluster.storage_class
    source = tinymodels.build_causal_lm(
        model_dir, approx_bytes=approx_bytes, num_attention_heads=num_attention_heads
    )
    files = {str(p.relative_to(source)): p for p in tinymodels.model_files(source)}
    with HubServer(host=gateway) as hub:
        commit = hub.add_repo(repo, files)
        install_chart(
            cluster, operator_image=operator_image, runtime_image=runtime_image,
            hub_endpoint=hub.endpoint, pod_network=f"{gateway}/24", values=values,
        )  # fmt: skip
        cluster.kubectl("create", "namespace", namespace)
        try:
            yield Hosted(hub, files, commit)
        finally:
            cluster.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=120s",
                            check=False, timeout=180)  # fmt: skip
            uninstall_chart(cluster)


def helm(cluster: Cluster, *args: str, timeout: float = 600) -> str:
    """Run helm from the tools dir against `cluster`, with its caches in the cluster's state."""
    if cluster.bin_dir is None or cluster.state_dir is None:
        raise ClusterError("helm needs a cluster started here (tools dir and state dir)")
    home = cluster.state_dir / "helm"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(cluster.kubeconfig),
    }
    argv = [str(cluster.bin_dir / "helm"), *args]
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise ClusterError(f"helm {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def install_chart(
    cluster: Cluster,
    *,
    operator_image: str,
    runtime_image: str,
    hub_endpoint: str,
    pod_network: str,
    status_poll_seconds: int = 2,
    values: dict[str, str] | None = None,
) -> None:
    """`helm upgrade --install` the chart and wait until the operator pod is Ready;
    `values`: more `--set KEY=VALUE` pairs."""
    more = [arg for key, value in (values or {}).items() for arg in ("--set", f"{key}={value}")]
    repository, _, tag = operator_image.rpartition(":")
    helm(
        cluster, "upgrade", "--install", RELEASE, str(CHART),
        "--namespace", OPERATOR_NAMESPACE, "--create-namespace",
        "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
        "--set", "image.pullPolicy=Never",
        "--set", f"runtime.image={runtime_image}",
        "--set", f"hub.endpoint={hub_endpoint}",
        "--set", f"operator.statusNetworks={{{pod_network}}}",
        "--set", f"operator.statusPollSeconds={status_poll_seconds}",
        "--set", "rbac.serviceMonitors=false", *more,
        "--wait", "--timeout", "5m",
    )  # fmt: skip


def uninstall_chart(cluster: Cluster) -> None:
    helm(cluster, "uninstall", RELEASE, "--namespace", OPERATOR_NAMESPACE, "--wait")


def model_deployment(
    name: str,
    namespace: str,
    *,
    repo: str,
    storage_class: str,
    cache_size: str = "1Gi",
    verify: str = "full",
) -> dict[str, Any]:
    """The ModelDeployment a user applies: CPU only (the node has no GPU), a PVC cache."""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"repo": repo, "revision": "main"},
            "task": "text-generation",
            "replicas": 1,
            "gpu": {"count": 0},
            "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}},
            "cache": {
                "storageClassName": storage_class,
                "size": cache_size,
                "accessMode": "ReadWriteMany",
            },
            "runtime": {
                "dtype": "float32",
                "verify": verify,
                "warmup": {"enabled": True, "prompt": "Hello", "maxTokens": 4},
            },
        },
    }


class Api:
    """Reads straight from the API server with the admin identity (fast enough to poll at
    a few hertz, unlike a kubectl process per read)."""

    def __init__(self, cluster: Cluster) -> None:
        if cluster.state_dir is None:
            raise ClusterError("the Watcher needs a cluster started here (its admin credentials)")
        self.server = cluster.server
        self.context: ssl.SSLContext = admin_context(cluster.state_dir / "pki")

    def get(self, path: str, **query: str) -> Any:
        url = f"{self.server}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(url, context=self.context, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise


def runtime_status(pod_ip: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """GET /status of a runtime pod on the pod network; None while it does not answer."""
    try:
        url = f"http://{pod_ip}:{RUNTIME_PORT}/status"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except (OSError, ValueError):
        return None


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for item in obj.get("status", {}).get("conditions", []) or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


@dataclasses.dataclass
class PodView:
    name: str
    phase: str
    ip: str | None
    ready: bool
    runtime_state: str | None
    restarts: int
    deleting: bool
    ready_since: str | None = None  # the Ready condition's lastTransitionTime, when True
    runtime_history: tuple[dict[str, Any], ...] = ()  # the runtime's own transitions


@dataclasses.dataclass
class Snapshot:
    model: dict[str, Any] | None
    jobs: list[dict[str, Any]]
    pods: list[PodView]

    @property
    def phase(self) -> str | None:
        return None if self.model is None else self.model.get("status", {}).get("phase")

    @property
    def ready(self) -> dict[str, Any]:
        return {} if self.model is None else condition(self.model, "Ready")


@dataclasses.dataclass
class Evidence:
    """What the watcher saw that matters for 'Ready means ready'."""

    ready_while_not_serving: list[str] = dataclasses.field(default_factory=list)
    running_not_ready: set[str] = dataclasses.field(default_factory=set)
    runtime_states: dict[str, list[str]] = dataclasses.field(default_factory=dict)


class Watcher:
    """Polls one ModelDeployment and everything it owns; reports each change once via `say`."""

    def __init__(self, cluster: Cluster, namespace: str, name: str, say: Say) -> None:
        self.api = Api(cluster)
        self.namespace = namespace
        self.name = name
        self.say = say
        self.evidence = Evidence()
        self._last: dict[str, str] = {}

    def _report(self, key: str, text: str) -> None:
        if self._last.get(key) != text:
            self._last[key] = text
            self.say(text)

    def snapshot(self) -> Snapshot:
        ns = self.namespace
        model = self.api.get(f"/apis/{GROUP_VERSION}/namespaces/{ns}/{PLURAL}/{self.name}")
        selector = f"{LABEL_DEPLOYMENT}={self.name}"
        jobs = self.api.get(f"/apis/batch/v1/namespaces/{ns}/jobs", labelSelector=selector)
        pods = self.api.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=selector)
        views = []
        for pod in (pods or {}).get("items", []):
            if pod["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "runtime":
                continue
            ready_condition = condition(pod, "Ready")
            ready = ready_condition.get("status") == "True"
            ip = pod.get("status", {}).get("podIP")
            # Read the runtime *after* the Pod: a pod Ready before its runtime would show here.
            status = runtime_status(ip) if ip else None
            statuses = pod.get("status", {}).get("containerStatuses", []) or []
            views.append(
                PodView(
                    name=pod["metadata"]["name"],
                    phase=pod.get("status", {}).get("phase", "?"),
                    ip=ip,
                    ready=ready,
                    runtime_state=None if status is None else str(status.get("state")),
                    restarts=sum(int(s.get("restartCount", 0)) for s in statuses),
                    deleting="deletionTimestamp" in pod["metadata"],
                    ready_since=ready_condition.get("lastTransitionTime") if ready else None,
                    runtime_history=tuple((status or {}).get("history") or ()),
                )
            )
        return Snapshot(model=model, jobs=(jobs or {}).get("items", []), pods=views)

    def step(self) -> Snapshot:
        snap = self.snapshot()
        self._describe(snap)
        for pod in snap.pods:
            states = self.evidence.runtime_states.setdefault(pod.name, [])
            if pod.runtime_state and (not states or states[-1] != pod.runtime_state):
                states.append(pod.runtime_state)
            if pod.ready and pod.runtime_state not in (None, "Ready", "Draining"):
                self.evidence.ready_while_not_serving.append(
                    f"{pod.name}: Pod Ready while its runtime says {pod.runtime_state}"
                )
            if pod.phase == "Running" and not pod.ready:
                self.evidence.running_not_ready.add(pod.name)
        return snap

    def _describe(self, snap: Snapshot) -> None:
        if snap.model is not None:
            status = snap.model.get("status", {})
            ready = snap.ready
            text = f"ModelDeployment {self.name}: phase {status.get('phase', '-')}"
            if ready:
                text += f", Ready={ready.get('status')} ({ready.get('reason')})"
            self._report("phase", text)
            download = status.get("download") or {}
            if download.get("bytesTotal"):
                done, total = download.get("bytesDone", 0), download["bytesTotal"]
                self._report(
                    "download",
                    f"  download {done / 1e6:.1f}/{total / 1e6:.1f} MB, "
                    f"{download.get('filesDone', 0)}/{download.get('filesTotal', '?')} files",
                )
        for job in snap.jobs:
            state = job.get("status", {})
            verdict = (
                "Complete" if state.get("succeeded") else
                "Failed" if any(c.get("type") == "Failed" and c.get("status") == "True"
                                for c in state.get("conditions", []) or []) else
                "Running" if state.get("active") else "Pending"
            )  # fmt: skip
            self._report(
                f"job/{job['metadata']['name']}",
                f"  fetch Job {job['metadata']['name']}: {verdict}",
            )
        for pod in snap.pods:
            text = (
                f"  pod {pod.name}: {pod.phase}, kubelet says Ready={pod.ready}, "
                f"runtime says {pod.runtime_state or '(not answering yet)'}"
            )
            if pod.deleting:
                text += ", terminating"
            self._report(f"pod/{pod.name}", text)

    def until(
        self, what: str, done: Callable[[Snapshot], bool], *, timeout: float, period: float = 0.25
    ) -> Snapshot:
        """Step until `done(snapshot)`; raise with the last snapshot after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        snap = self.step()
        while not done(snap):
            if time.monotonic() > deadline:
                last = json.dumps((snap.model or {}).get("status"))
                raise ClusterError(
                    f"timed out after {timeout:.0f} s waiting for {what}; last status: {last}"
                )
            time.sleep(period)
            snap = self.step()
        return snap


def is_ready(snap: Snapshot) -> bool:
    return snap.phase == "Ready" and snap.ready.get("status") == "True"


def service_ip(api: Api, namespace: str, name: str) -> str:
    service = api.get(f"/api/v1/namespaces/{namespace}/services/{name}")
    if service is None:
        raise ClusterError(f"no Service {namespace}/{name}")
    return str(service["spec"]["clusterIP"])


def routed(
    api: Api, namespace: str, name: str, *, within: float = 30, api_key: str | None = None
) -> str:
    """The Service's base URL once it routes (a completion answers): kube-proxy programs its
    rules a moment after the pod turned Ready, and until then refuses the connection (seen on
    this 2-core node: up to a few seconds under load). The operator cannot see kube-proxy."""
    base_url = f"http://{service_ip(api, namespace, name)}:{RUNTIME_PORT}"
    deadline = time.monotonic() + within
    while True:
        try:
            complete(base_url, "Hi", 1, api_key=api_key)
            return base_url
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def complete(
    base_url: str, prompt: str, max_tokens: int = 8, *, api_key: str | None = None
) -> dict[str, Any]:
    """POST /v1/completions (with `Authorization: Bearer api_key` when given); returns the
    OpenAI-style answer (raises on a non-200: urllib's HTTPError carries the status)."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0}).encode()
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(f"{base_url}/v1/completions", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def events_for(
    api: Api, namespace: str, name: str, *, kind: str = "ModelDeployment"
) -> list[dict[str, Any]]:
    """Events whose involved object is the `kind` (default ModelDeployment) `name`."""
    found = api.get(
        f"/api/v1/namespaces/{namespace}/events",
        fieldSelector=f"involvedObject.name={name},involvedObject.kind={kind}",
    )
    return list((found or {}).get("items", []))
