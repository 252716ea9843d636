"""RBAC is really enforced by the API server: the operator's chart RBAC will be tested for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.cluster.polling import eventually

pytestmark = pytest.mark.cluster


def _token_kubeconfig(cluster: Cluster, token: str, path: Path) -> Path:
    """The admin kubeconfig with its user replaced by a bearer token (no client certificate)."""
    config = json.loads(cluster.kubectl("config", "view", "--minify", "--raw", "-o", "json").stdout)
    config["users"][0]["user"] = {"token": token}
    path.write_text(json.dumps(config))
    return path


def test_service_account_token_is_forbidden_until_a_rolebinding_grants_access(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    token = cluster.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    as_reader = _token_kubeconfig(cluster, token, tmp_path / "reader.kubeconfig")

    def list_configmaps() -> tuple[int, str]:
        done = cluster.kubectl(
            f"--kubeconfig={as_reader}", "get", "configmaps", "-n", namespace, check=False
        )
        return done.returncode, done.stderr

    code, err = list_configmaps()
    # Authenticated (the token names the ServiceAccount) but not authorized: a 403, not a 401.
    assert code != 0
    assert "Forbidden" in err
    assert f'User "system:serviceaccount:{namespace}:reader"' in err

    cluster.kubectl("create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps",
                    "-n", namespace)  # fmt: skip
    cluster.kubectl("create", "rolebinding", "cm-reader", "--role=cm-reader",
                    f"--serviceaccount={namespace}:reader", "-n", namespace)  # fmt: skip
    eventually(list_configmaps, lambda seen: seen[0] == 0, what="access after the RoleBinding")

    done = cluster.kubectl(f"--kubeconfig={as_reader}", "get", "secrets", "-n", namespace,
                           check=False)  # fmt: skip
    assert done.returncode != 0 and "Forbidden" in done.stderr, "only configmaps were granted"


def test_impersonated_service_account_is_checked_against_its_own_permissions(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    who = f"--as=system:serviceaccount:{namespace}:nobody"
    assert cluster.kubectl("auth", "can-i", "create", "pods", "-n", namespace, who,
                           check=False).stdout.strip() == "no"  # fmt: skip
    assert cluster.kubectl("auth", "can-i", "create", "pods", "-n", namespace,
                           check=False).stdout.strip() == "yes"  # fmt: skip


def test_token_controller_fills_a_legacy_service_account_token_secret(
    cluster: Cluster, namespace: str
) -> None:
    """The controller-manager signs tokens with the service-account key it was given."""
    cluster.kubectl("create", "serviceaccount", "legacy", "-n", namespace)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "legacy-token", "namespace": namespace,
                     "annotations": {"kubernetes.io/service-account.name": "legacy"}},
    }  # fmt: skip
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(secret))
    filled = eventually(
        lambda: cluster.kubectl_json("get", "secret", "legacy-token", "-n", namespace),
        lambda s: "token" in s.get("data", {}),
        what="the token controller to fill the Secret",
    )
    assert {"token", "ca.crt", "namespace"} <= set(filled["data"])
