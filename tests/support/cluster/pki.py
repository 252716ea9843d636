"""Certificates, service-account keys and kubeconfigs for one run, made with openssl."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.cluster.errors import ClusterError


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def _leaf_cert(pki: Path, name: str, *, subject: str, usage: str, sans: str = "") -> None:
    """A key and certificate signed by the run's CA (EC keys: generated in milliseconds)."""
    ext = pki / f"{name}.ext"
    ext.write_text(f"extendedKeyUsage={usage}\n" + (f"subjectAltName={sans}\n" if sans else ""))
    key, csr, crt = (str(pki / f"{name}.{s}") for s in ("key", "csr", "crt"))
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", csr, "-subj", subject)  # fmt: skip
    _openssl("x509", "-req", "-in", csr, "-CA", str(pki / "ca.crt"), "-CAkey",
             str(pki / "ca.key"), "-CAcreateserial", "-days", "7", "-out", crt,
             "-extfile", str(ext))  # fmt: skip


# A real node's identities (tests.support.cluster.node): kubelet as the Node authorizer expects
# it, kube-proxy as the bootstrap RBAC binds it, the API server to kubelet (logs, exec), and the
# kubelet's serving certificate on the pod gateway address.
NODE_CLIENTS = {
    "kubelet": "/O=system:nodes/CN=system:node:modeldeploy-node",
    "kube-proxy": "/CN=system:kube-proxy",
    "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
}


def make_pki(pki: Path, *, node: bool = False) -> None:
    """CA, API server serving cert, client certs per identity, service-account signing key."""
    pki.mkdir(parents=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
             "-days", "7", "-subj", "/CN=modeldeploy-test-ca")  # fmt: skip
    # 10.213.0.1: the pod gateway a real node's API server binds; 10.96.0.1: the `kubernetes`
    # Service's ClusterIP, through which pods reach it.
    sans = ("IP:127.0.0.1,IP:10.213.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc")  # fmt: skip
    _leaf_cert(pki, "apiserver", subject="/CN=kube-apiserver", usage="serverAuth", sans=sans)
    # system:masters bypasses RBAC for the admin; the control-plane identities are the ones the
    # API server's bootstrap RBAC policy grants, exactly as kubeadm sets them up.
    clients = {
        "admin": "/O=system:masters/CN=modeldeploy-admin",
        "kube-controller-manager": "/CN=system:kube-controller-manager",
        "kube-scheduler": "/CN=system:kube-scheduler",
        "kwok": "/O=system:masters/CN=kwok",
        # The cluster DNS (tests.support.cluster.dns), bound to a read-only ClusterRole.
        "coredns": "/CN=system:coredns",
    }
    for name, subject in {**clients, **(NODE_CLIENTS if node else {})}.items():
        _leaf_cert(pki, name, subject=subject, usage="clientAuth")
    if node:
        _leaf_cert(pki, "kubelet-serving", subject="/CN=modeldeploy-node", usage="serverAuth",
                   sans="IP:10.213.0.1,DNS:modeldeploy-node")  # fmt: skip
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", str(pki / "sa.key"))  # fmt: skip
    _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def write_kubeconfig(path: Path, *, server: str, pki: Path, user: str) -> None:
    """A kubeconfig for one identity (JSON is YAML, so no YAML library is needed)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "modeldeploy-test", "cluster": {
            "server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(pki / f"{user}.crt"),
            "client-key": str(pki / f"{user}.key")}}],
        "contexts": [{"name": "modeldeploy-test", "context": {
            "cluster": "modeldeploy-test", "user": user, "namespace": "default"}}],
        "current-context": "modeldeploy-test",
    }  # fmt: skip
    path.write_text(json.dumps(config, indent=2) + "\n")
