"""The cluster DNS: CoreDNS (built from source, tools/coredns) serving cluster.local.

Why: real clusters run a cluster DNS, and the pods the operator renders keep dnsPolicy
ClusterFirst; a kubelet without `clusterDNS` gives each such pod a MissingClusterDNS warning and
no way to resolve a Service name. CoreDNS is what kubeadm and kind deploy. Here it runs as a host
process, like kube-proxy (no image can be pulled, and the node would have to run it before it
could resolve anything): on the real node it listens on the pod gateway 10.213.0.1, port 53
(UDP and TCP), the address kubelet writes into each pod's resolv.conf.

It answers only for cluster.local and the reverse zones of the Service and pod networks, from
the API server (the `kubernetes` plugin, under its own identity `system:coredns` with the
read-only rights kubeadm grants). There is no `forward`: any other name is REFUSED at once, so
nothing is ever asked outside the machine. Its readiness endpoint (ready once it has synced with
the API server) is on loopback; it has no other listener.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from tests.support.cluster import probes
from tests.support.cluster.launcher import Launcher

NAME = "coredns"
DOMAIN = "cluster.local"
PORT = 53
USER = "system:coredns"
# What the kubernetes plugin lists and watches (coredns/deployment's ClusterRole system:coredns).
RULES = [
    {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
     "verbs": ["list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
     "verbs": ["list", "watch"]},
]  # fmt: skip


def rbac_manifest() -> str:
    """ClusterRole and binding for USER (kubectl apply -f -: a List; JSON is YAML)."""
    meta = {"name": USER}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": meta, "rules": RULES}  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": USER},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    }  # fmt: skip
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]})


def reverse_zone(cidr: str) -> str:
    """The in-addr.arpa zone of an IPv4 network on an octet boundary (10.96.0.0/16 ->
    96.10.in-addr.arpa)."""
    network = ipaddress.IPv4Network(cidr)
    if network.prefixlen % 8:
        raise ValueError(f"{cidr}: a reverse zone needs a prefix on an octet boundary")
    labels = network.network_address.reverse_pointer.split(".")
    return ".".join(labels[(32 - network.prefixlen) // 8 :])


def corefile(
    *, host: str, port: int, ready_port: int, kubeconfig: Path, reverse_cidrs: tuple[str, ...]
) -> str:
    """One server block: cluster.local (and the reverse zones) from the API server, nothing else."""
    zones = [DOMAIN, *(reverse_zone(c) for c in reverse_cidrs)]
    keys = " ".join(f"{zone}:{port}" for zone in zones)
    return f"""{keys} {{
    bind {host}
    errors
    log
    ready 127.0.0.1:{ready_port}
    kubernetes {" ".join(zones)} {{
        kubeconfig {kubeconfig}
        pods insecure
        ttl 30
    }}
    cache 30
}}
"""


def start(
    run: Launcher, *, host: str, kubeconfig: Path, port: int | None = None,
    reverse_cidrs: tuple[str, ...] = (),
) -> int:  # fmt: skip
    """Start CoreDNS on HOST:PORT (a free port when None) and wait until it has synced with the
    API server; returns the DNS port. The caller stops it by PID with the run's other processes.
    """
    config = run.state / "Corefile"

    def argv_for(ports: list[int]) -> list[str]:
        dns_port = port if port is not None else ports[1]
        config.write_text(corefile(host=host, port=dns_port, ready_port=ports[0],
                                   kubeconfig=kubeconfig, reverse_cidrs=reverse_cidrs))  # fmt: skip
        return [str(run.bin_dir / NAME), "-conf", str(config)]

    chosen = run.start(
        NAME, argv_for, ports=1 if port is not None else 2,
        url_for=lambda p: f"http://127.0.0.1:{p[0]}/ready", context=probes.insecure_context(),
    )  # fmt: skip
    return port if port is not None else chosen[1]
