"""The cluster DNS (CoreDNS built from tools/coredns, as the real node runs it) answers Service
names from the API server, under its own read-only identity, and nothing outside cluster.local.

Here it runs against the session's control plane on a loopback port; on the real node the same
code listens on the pod gateway's port 53 (tests/node checks a pod resolving through it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import skips
from tests.support.cluster import (
    E2E_KUBECONFIG_ENV,
    Cluster,
    components,
    dns,
    dnsquery,
    processes,
    tools,
)
from tests.support.cluster.launcher import Launcher
from tests.support.cluster.polling import eventually

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        bool(os.environ.get(E2E_KUBECONFIG_ENV)),
        reason="runs against an external cluster: it has its own DNS, and no state dir here",
    ),
]

HOST = "127.0.0.1"
KUBERNETES = "kubernetes.default.svc.cluster.local."


@dataclasses.dataclass(frozen=True)
class Server:
    port: int
    state: Path  # its Corefile, log and PID


@pytest.fixture(scope="module")
def dns_server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """CoreDNS on a free loopback port, synced with the API server."""
    bin_dir = tools.find_coredns_dir()
    if bin_dir is None:
        skips.cannot_run("coredns not built: run MODELDEPLOY_TOOLS=coredns hack/build-tools.sh")
    assert cluster.state_dir is not None
    cluster.kubectl("apply", "-f", "-", stdin=dns.rbac_manifest())
    state = tmp_path_factory.mktemp("coredns")
    run = Launcher(state=state, bin_dir=bin_dir, die_with_parent=True)
    try:
        port = dns.start(run, host=HOST, kubeconfig=cluster.state_dir / "coredns.kubeconfig",
                         reverse_cidrs=(components.SERVICE_CIDR,))  # fmt: skip
        yield Server(port, state)
    finally:
        processes.stop_processes(state)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_the_kubernetes_service_resolves_to_its_cluster_ip(dns_server: Server, tcp: bool) -> None:
    answer = dnsquery.query(HOST, dns_server.port, KUBERNETES, tcp=tcp)
    assert (answer.rcode, answer.authoritative) == ("NOERROR", True)
    assert answer.values("A") == ["10.96.0.1"]


def test_a_new_service_resolves_once_created(
    cluster: Cluster, namespace: str, dns_server: Server
) -> None:
    name = f"web.{namespace}.svc.cluster.local."
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80}]},
    }  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(service))
    cluster_ip = cluster.kubectl_json("get", "service", "web", "-n", namespace)["spec"]["clusterIP"]
    # CoreDNS learns of it through its watch, a moment later.
    answer = eventually(
        lambda: dnsquery.query(HOST, dns_server.port, name),
        lambda a: a.rcode == "NOERROR",
        what=f"{name} to resolve",
        timeout=60,
    )
    assert answer.values("A") == [cluster_ip]


def test_a_service_cluster_ip_resolves_back_to_its_name(dns_server: Server) -> None:
    answer = dnsquery.query(HOST, dns_server.port, "1.0.96.10.in-addr.arpa.", "PTR")
    assert answer.values("PTR") == [KUBERNETES]


def test_a_missing_service_is_nxdomain(dns_server: Server) -> None:
    answer = dnsquery.query(HOST, dns_server.port, "absent.default.svc.cluster.local.")
    assert (answer.rcode, answer.records) == ("NXDOMAIN", [])


def test_names_outside_the_cluster_are_refused_at_once_never_forwarded(dns_server: Server) -> None:
    began = time.monotonic()
    for name in ("example.com.", "registry-1.docker.io.", "huggingface.co."):
        answer = dnsquery.query(HOST, dns_server.port, name, timeout=5)
        assert (answer.rcode, answer.records) == ("REFUSED", []), name
    assert time.monotonic() - began < 2  # answered by CoreDNS itself: no upstream was waited on


def test_its_only_listeners_are_on_loopback_under_its_own_identity(
    cluster: Cluster, dns_server: Server
) -> None:
    pids = {pid for _, pid, _ in processes.recorded_processes(dns_server.state)}
    assert {host for host, _ in processes.listening_addresses(pids)} == {HOST}
    can_i = cluster.kubectl("auth", "can-i", "--as", dns.USER, "list", "endpointslices",
                            "--all-namespaces", check=False)  # fmt: skip
    assert can_i.stdout.strip() == "yes"
    assert cluster.kubectl("auth", "can-i", "--as", dns.USER, "get", "secrets",
                           "--all-namespaces", check=False).stdout.strip() == "no"  # fmt: skip
