"""Configuration and command lines of the real node's kubelet and kube-proxy (Kubernetes 1.35).

Every path kubelet writes (its root dir, hence every volume mount, pod logs, certificates, volume
plugins) lives in the run's state dir; it serves on the pod gateway address (the API server reaches
it there for logs and exec) and its healthz on loopback; pods' resolv.conf names the cluster DNS on
the gateway (tests.support.cluster.dns). kube-proxy programs iptables for Services and listens on
loopback only. JSON is YAML, so no YAML library is needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from tests.support.cluster import containerd, dns, hostnet

NODE_NAME = "modeldeploy-node"


def _write(path: Path, document: Mapping[str, object]) -> Path:
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def kubelet_config(state: Path, node: Path, *, port: int, healthz_port: int) -> Path:
    pki = state / "pki"
    resolv = node / "resolv.conf"
    # Pods (dnsPolicy ClusterFirst, the default) get the cluster DNS (tests.support.cluster.dns)
    # on the gateway. This host file is what dnsPolicy Default and host-network pods get: no
    # nameserver, so nothing in a pod may try the host's DNS server (or any other host). Not
    # empty either: containerd copies the host's /etc/resolv.conf when kubelet passes nothing.
    resolv.write_text("# modeldeploy test node: the cluster DNS only (clusterDNS)\n"
                      "options timeout:1 attempts:1\n")  # fmt: skip
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": hostnet.GATEWAY, "port": port, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": healthz_port,
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs", "failCgroupV1": False, "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{containerd.socket(node)}",
        "resolvConf": str(resolv), "podLogsDir": str(node / "pod-logs"),
        "clusterDNS": [hostnet.GATEWAY], "clusterDomain": dns.DOMAIN,
        "volumePluginDir": str(node / "volume-plugins"),
        # Our imported images are never garbage-collected, and a full-ish disk of a shared
        # machine must not evict the test's pods.
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "rotateCertificates": False, "serverTLSBootstrap": False,
        "nodeStatusReportFrequency": "10s", "syncFrequency": "10s",
        "fileCheckFrequency": "10s", "maxPods": 50,
    }  # fmt: skip
    return _write(node / "kubelet-config.json", config)


def kubelet_argv(bin_dir: Path, state: Path, node: Path, ports: list[int]) -> list[str]:
    port, healthz_port = ports
    config = kubelet_config(state, node, port=port, healthz_port=healthz_port)
    return [
        str(bin_dir / "kubelet"), f"--config={config}",
        f"--kubeconfig={state / 'kubelet.kubeconfig'}", f"--root-dir={node / 'kubelet'}",
        f"--cert-dir={node / 'kubelet-pki'}", f"--hostname-override={NODE_NAME}",
        f"--node-ip={hostnet.GATEWAY}", "--v=1",
    ]  # fmt: skip


def kube_proxy_config(state: Path, node: Path, *, healthz_port: int, metrics_port: int) -> Path:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(state / "kube-proxy.kubeconfig")},
        "hostnameOverride": NODE_NAME, "bindAddress": hostnet.GATEWAY,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "mode": "iptables", "clusterCIDR": hostnet.POD_SUBNET,
        "nodePortAddresses": [f"{hostnet.GATEWAY}/32"],
        "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
        # 0 leaves the host's conntrack sysctls as they are.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                      "tcpCloseWaitTimeout": "0s"},
    }  # fmt: skip
    return _write(node / "kube-proxy-config.json", config)


def kube_proxy_argv(bin_dir: Path, state: Path, node: Path, ports: list[int]) -> list[str]:
    healthz_port, metrics_port = ports
    config = kube_proxy_config(state, node, healthz_port=healthz_port, metrics_port=metrics_port)
    return [str(bin_dir / "kube-proxy"), f"--config={config}", "--v=1"]
