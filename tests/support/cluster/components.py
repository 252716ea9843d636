"""Command lines of the control-plane components: every listener on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from tests.support.cluster.tools import KWOK_STAGES_DIR

SERVICE_CIDR = "10.96.0.0/16"  # with kwok never dialled; a real node's kube-proxy serves it
POD_CIDR = "127.244.0.0/16"
NODE_IP = "127.0.0.1"


def etcd_argv(bin_dir: Path, state: Path, ports: list[int]) -> list[str]:
    client, peer = (f"http://127.0.0.1:{p}" for p in ports)
    return [
        str(bin_dir / "etcd"), "--name=default", f"--data-dir={state / 'etcd'}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}", "--log-level=warn",
        "--unsafe-no-fsync",  # a throw-away test store: durability only costs time
    ]  # fmt: skip


def apiserver_argv(
    bin_dir: Path, state: Path, etcd_port: int, port: int, *, host: str = "127.0.0.1",
    node: bool = False,
) -> list[str]:  # fmt: skip
    """With `node` (a real node): kubelet client credentials (logs, exec) and NodeRestriction."""
    pki = state / "pki"
    node_flags = [
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--enable-admission-plugins=NodeRestriction",
    ]  # fmt: skip
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        f"--bind-address={host}", f"--advertise-address={host}", f"--secure-port={port}",
        f"--cert-dir={state / 'apiserver'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true", "--profiling=false", "--v=1",
        *(node_flags if node else []),
    ]  # fmt: skip


def controller_manager_argv(bin_dir: Path, state: Path, port: int) -> list[str]:
    pki, kubeconfig = state / "pki", state / "kube-controller-manager.kubeconfig"
    return [
        str(bin_dir / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1", f"--secure-port={port}",
        f"--cert-dir={state / 'kube-controller-manager'}", "--leader-elect=false",
        # Each controller acts under its own ServiceAccount, so RBAC applies to them too; the
        # private key lets the token controller sign legacy ServiceAccount token Secrets.
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}", "--cluster-name=modeldeploy-test",
        "--controllers=*", "--profiling=false", "--v=1",
        # kwok renews node leases from a process that competes for 2 busy cores; a late
        # heartbeat must not get a simulated node tainted unreachable (and its pods evicted).
        "--node-monitor-grace-period=10m",
    ]  # fmt: skip


def scheduler_argv(bin_dir: Path, state: Path, port: int) -> list[str]:
    kubeconfig = state / "kube-scheduler.kubeconfig"
    return [
        str(bin_dir / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1", f"--secure-port={port}",
        f"--cert-dir={state / 'kube-scheduler'}", "--leader-elect=false",
        "--profiling=false", "--v=1",
    ]  # fmt: skip


def kwok_argv(bin_dir: Path, state: Path, port: int) -> list[str]:
    stages = sorted(KWOK_STAGES_DIR.glob("*.yaml"))
    return [
        str(bin_dir / "kwok"), f"--kubeconfig={state / 'kwok.kubeconfig'}",
        *(f"--config={s}" for s in stages),
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        # Pod and node addresses inside 127.0.0.0/8: whatever follows them (the API
        # server proxying logs, the operator polling a runtime's /status) stays on this
        # machine and finds nothing listening there.
        f"--cidr={POD_CIDR}", f"--node-ip={NODE_IP}",
        f"--server-address=127.0.0.1:{port}",
    ]  # fmt: skip
