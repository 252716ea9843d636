"""Pods really run on the real node: kubelet's probes, kube-proxy's Services, the pod network.

One web server pod (python3 -m http.server on its pod IP) behind a Service serves the module;
its start is watched from creation, so the readiness transition is kubelet's own probe result.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cluster import Cluster, containerd, node, processes
from tests.support.cluster.polling import eventually

pytestmark = pytest.mark.node

SERVE_AFTER_S = 6  # the server starts late, so the probe fails first


@dataclasses.dataclass
class Web:
    namespace: str
    pod_ip: str
    cluster_ip: str
    seen: list[tuple[str, str]]  # (phase, Ready condition) in the order observed


def _pod(name: str, image: str, command: str, *, probe: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", command],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
    }  # fmt: skip
    if probe:
        container["readinessProbe"] = {
            "httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1,
        }  # fmt: skip
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
    }  # fmt: skip


def _observe(cluster: Cluster, namespace: str, name: str) -> tuple[str, str]:
    pod = cluster.kubectl_json("get", "pod", name, "-n", namespace)
    ready = [c["status"] for c in pod["status"].get("conditions", []) if c["type"] == "Ready"]
    return pod["status"].get("phase", ""), (ready or ["-"])[0]


@pytest.fixture(scope="module")
def web(node_cluster: Cluster, python_image: str) -> Iterator[Web]:
    namespace = f"web-{uuid.uuid4().hex[:8]}"
    node_cluster.kubectl("create", "namespace", namespace)
    eventually(
        lambda: node_cluster.kubectl("get", "sa", "default", "-n", namespace, check=False),
        lambda done: done.returncode == 0, what="default ServiceAccount",
    )  # fmt: skip
    serve = f"sleep {SERVE_AFTER_S}; exec python3 -m http.server 8080 --bind $POD_IP"
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    for document in (_pod("web", python_image, serve, probe=True), service):
        node_cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(document))
    seen: list[tuple[str, str]] = []

    def observe() -> tuple[str, str]:
        state = _observe(node_cluster, namespace, "web")
        if not seen or seen[-1] != state:
            seen.append(state)
        return state

    eventually(observe, lambda s: s == ("Running", "True"), what="web pod Ready", timeout=90)
    pod = node_cluster.kubectl_json("get", "pod", "web", "-n", namespace)
    svc = node_cluster.kubectl_json("get", "service", "web", "-n", namespace)
    yield Web(namespace, pod["status"]["podIP"], svc["spec"]["clusterIP"], seen)
    node_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _exec_python(cluster: Cluster, web: Web, script: str) -> str:
    done = cluster.kubectl("exec", "-i", "web", "-n", web.namespace, "--", "python3", "-",
                           stdin=script, timeout=60)  # fmt: skip
    return done.stdout


def test_node_is_ready_with_the_pinned_kubelet_and_containerd(node_cluster: Cluster) -> None:
    assert node_cluster.node_name is not None
    node = node_cluster.kubectl_json("get", "node", node_cluster.node_name)
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.35.4"
    assert info["containerRuntimeVersion"].startswith("containerd://1.6")
    assert {"type": "InternalIP", "address": "10.213.0.1"} in node["status"]["addresses"]
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    assert node_cluster.pod_gateway == "10.213.0.1"


def test_kubelet_probe_keeps_the_pod_unready_until_its_server_answers(web: Web) -> None:
    assert ("Running", "False") in web.seen, web.seen
    assert web.seen[-1] == ("Running", "True")
    assert web.seen.index(("Running", "False")) < web.seen.index(("Running", "True"))
    assert web.pod_ip.startswith("10.213.0.")


def test_kubectl_logs_and_exec_reach_the_kubelet(node_cluster: Cluster, web: Web) -> None:
    logs = node_cluster.kubectl("logs", "web", "-n", web.namespace).stdout
    assert '"GET / HTTP/1.1" 200' in logs  # kubelet's probe requests, as the server logged them
    assert _exec_python(node_cluster, web, "import os; print(os.getuid())").strip() == "0"


def test_host_reaches_the_pod_through_its_service_cluster_ip(web: Web) -> None:
    with urllib.request.urlopen(f"http://{web.cluster_ip}/", timeout=10) as response:
        assert response.status == 200


def test_pod_reaches_the_api_server_through_the_kubernetes_service(
    node_cluster: Cluster, web: Web
) -> None:
    script = """
import json, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
ctx = ssl.create_default_context(cafile=f"{sa}/ca.crt")
auth = {"Authorization": "Bearer " + open(f"{sa}/token").read()}
req = urllib.request.Request("https://10.96.0.1/version", headers=auth)
print(json.load(urllib.request.urlopen(req, context=ctx, timeout=10))["gitVersion"])
"""
    assert _exec_python(node_cluster, web, script).strip() == "v1.36.3"


def test_pod_reaches_a_pod_through_a_service_cluster_ip(node_cluster: Cluster, web: Web) -> None:
    # The pod dials its own Service: DNAT back to itself, forwarded over the bridge (hairpin).
    script = f"""
import urllib.request
print(urllib.request.urlopen("http://{web.cluster_ip}/", timeout=10).status)
"""
    assert _exec_python(node_cluster, web, script).strip() == "200"


def test_nothing_outside_the_pod_network_is_reachable_from_a_pod(
    node_cluster: Cluster, web: Web
) -> None:
    # Two addresses of no real host (TEST-NET-2 and -3: documentation ranges, so even a broken
    # rule would reach nobody) and the machine's own external address: all dropped, so every
    # attempt times out (a refusal would mean the packet got somewhere).
    script = """
import socket
for host, port in [("198.51.100.1", 80), ("203.0.113.1", 443), ("192.0.2.2", 22)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print(host, "connected")
    except TimeoutError:
        print(host, "timeout")
    except OSError as e:
        print(host, "error", e)
"""
    lines = _exec_python(node_cluster, web, script).splitlines()
    assert lines == ["198.51.100.1 timeout", "203.0.113.1 timeout", "192.0.2.2 timeout"]


def test_pods_resolve_service_names_through_the_cluster_dns(
    node_cluster: Cluster, web: Web
) -> None:
    # The libc resolver of the pod, as any program in it would: kubelet's resolv.conf names the
    # cluster DNS on the gateway, with the namespace's search path (short names resolve).
    script = """
import json, socket, time
def lookup(name):
    began = time.monotonic()
    try:
        found = sorted({a[4][0] for a in socket.getaddrinfo(name, 80, socket.AF_INET)})
    except socket.gaierror as e:
        found = "gaierror"
    return found, round(time.monotonic() - began, 2)
names = ["kubernetes.default.svc.cluster.local", "kubernetes.default", "web.__NAMESPACE__",
         "example.com"]
print(json.dumps({"resolv": open("/etc/resolv.conf").read(),
                  "found": {n: lookup(n) for n in names}}))
"""
    # `web.<namespace>`, not `web`: the pod is named web too, and kubelet's /etc/hosts answers
    # a pod's own hostname before any DNS is asked.
    seen = json.loads(
        _exec_python(node_cluster, web, script.replace("__NAMESPACE__", web.namespace))
    )
    resolv = seen["resolv"].splitlines()
    assert [line for line in resolv if line.startswith("nameserver")] == ["nameserver 10.213.0.1"]
    assert f"search {web.namespace}.svc.cluster.local svc.cluster.local cluster.local" in resolv
    found = {name: addresses for name, (addresses, _seconds) in seen["found"].items()}
    assert found == {
        "kubernetes.default.svc.cluster.local": ["10.96.0.1"],
        "kubernetes.default": ["10.96.0.1"],
        f"web.{web.namespace}": [web.cluster_ip],
        "example.com": "gaierror",  # nothing is forwarded outside the cluster
    }, seen
    assert seen["found"]["example.com"][1] < 3, seen  # refused at once, not a timeout


def test_no_pod_is_warned_of_a_missing_cluster_dns(node_cluster: Cluster, web: Web) -> None:
    events = node_cluster.kubectl_json("get", "events", "--all-namespaces")["items"]
    assert [e for e in events if e.get("reason") == "MissingClusterDNS"] == []
    # Not vacuous: kubelet's events for the web pod did reach the API server.
    web_pod = {"kind": "Pod", "name": "web", "namespace": web.namespace}
    reasons = {e.get("reason") for e in events
               if web_pod.items() <= e["involvedObject"].items()}  # fmt: skip
    assert "Started" in reasons, events


def test_every_listener_is_on_loopback_or_the_pod_gateway(node_cluster: Cluster, web: Web) -> None:
    assert node_cluster.state_dir is not None
    pids = {pid for _, pid, _ in processes.recorded_processes(node_cluster.state_dir)}
    pids |= set(containerd.recorded_pids(node.node_dir(node_cluster.state_dir)))
    listening = processes.listening_addresses(pids)
    hosts = {host for host, _ in listening}
    assert hosts <= {"127.0.0.1", "10.213.0.1"}, listening
    assert "10.213.0.1" in hosts  # the API server and kubelet: pods and kubectl logs need them
    assert ("10.213.0.1", 53) in listening  # the cluster DNS (TCP; its UDP socket beside it)


def test_an_image_that_was_not_imported_is_never_pulled_from_a_registry(
    node_cluster: Cluster, node_namespace: str
) -> None:
    # containerd's registry requests go to a loopback proxy nothing listens on: the pull fails
    # at once, naming that proxy, and no registry (nor DNS) is ever asked.
    pod = _pod("absent", "docker.io/library/busybox:1.36", "true")
    node_cluster.kubectl("apply", "-n", node_namespace, "-f", "-", stdin=json.dumps(pod))

    def waiting() -> dict[str, Any]:
        found = node_cluster.kubectl_json("get", "pod", "absent", "-n", node_namespace)
        statuses = found["status"].get("containerStatuses") or [{}]
        return dict(statuses[0].get("state", {}).get("waiting") or {})

    state = eventually(
        waiting,
        lambda w: w.get("reason") == "ErrImagePull" and bool(w.get("message")),
        what="the pull of an image that was not imported to fail",
        timeout=60,
    )
    assert containerd.NO_EGRESS_PROXY.removeprefix("http://") in state["message"], state
