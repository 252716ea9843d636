"""The chart's RBAC covers every API call of the real operator, against a real API server.

The operator runs as a subprocess under a kubeconfig holding only a token of the chart's
ServiceAccount, bound to exactly the rules `helm template` renders. It must reconcile a cached
and an uncached ModelDeployment, a ModelCache and a ModelDeployment using it (children applied,
status written) without a single 403.
Each call documented in operator/kube.py is also checked with the API server's own authorizer
(a SubjectAccessReview), which covers calls this short run may not reach (pods/log, deleting
Jobs); and rights the chart must not grant are checked to be refused.

Both watch modes run: cluster-wide (ClusterRole) and namespaced (Roles). See operator_run.py
for why only etcd and kube-apiserver run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeldeploy.operator import kube
from tests.chart import operator_run
from tests.chart.operator_run import OPERATOR_NAMESPACE, REPO_ID
from tests.chart.test_rbac_grants_only_what_the_operator_uses import NOT_GRANTED, documented_calls
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CLUSTER_SCOPED = {"customresourcedefinitions", "nodes", "namespaces"}


@pytest.fixture(scope="module")
def control_plane() -> Iterator[Cluster]:
    with operator_run.control_plane_with_crd() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def hub() -> Iterator[HubServer]:
    with operator_run.hub_with_tiny_model() as server:
        yield server


def can_i(
    cluster: Cluster, account: str, verb: str, group: str, resource: str, namespace: str | None
) -> bool:
    """The API server's own authorization decision for the account (a SubjectAccessReview).

    Unlike `kubectl auth can-i`, it needs no discovery, so it also answers for resources whose
    CRD is not installed here (ServiceMonitors).
    """
    name, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": group, "resource": name, "subresource": subresource}
    if namespace:
        attributes["namespace"] = namespace
    review = {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{OPERATOR_NAMESPACE}:{account}",
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{OPERATOR_NAMESPACE}",
                       "system:authenticated"],
            "resourceAttributes": attributes,
        },
    }  # fmt: skip
    done = cluster.kubectl("create", "--filename=-", "--output=json", stdin=json.dumps(review))
    return bool(json.loads(done.stdout)["status"].get("allowed"))


class Operator:
    """`modeldeploy operator` as a local subprocess under a kubeconfig; its log in a file."""

    def __init__(self, kubeconfig: Path, log: Path, *, namespaces: list[str]) -> None:
        self.log = log
        env = {
            **os.environ, **operator_run.OPERATOR_ENV,
            "KUBECONFIG": str(kubeconfig), "MODELDEPLOY_NAMESPACES": ",".join(namespaces),
        }  # fmt: skip
        argv = [sys.executable, "-m", "modeldeploy", "operator", "--verbose",
                "--health-port=0", "--metrics-port=0"]  # fmt: skip
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def assert_authorizer_agrees(cluster: Cluster, account: str, namespace: str, mode: str) -> None:
    wanted = documented_calls(kube.__doc__ or "")
    if mode == "cluster-wide":
        wanted -= set(NOT_GRANTED)
    refused = [
        (verb, group, resource) for group, resource, verb in sorted(wanted)
        if not can_i(cluster, account, verb, group, resource,
                     None if resource in CLUSTER_SCOPED else namespace)
    ]  # fmt: skip
    assert refused == []
    # ... and refuses what the operator never does.
    assert not can_i(cluster, account, "create", "", "pods", namespace)
    assert not can_i(cluster, account, "delete", "apps", "deployments", namespace)
    assert not can_i(cluster, account, "update", "modeldeploy.io", "modeldeployments", namespace)
    if mode == "namespaced":
        assert not can_i(cluster, account, "get", "", "secrets", OPERATOR_NAMESPACE)
        assert not can_i(cluster, account, "list", "", "pods", "default")


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_operator_reconciles_under_the_chart_rbac_without_a_403(
    control_plane: Cluster, hub: HubServer, helm_bin: Path, tmp_path: Path, mode: str
) -> None:
    cluster = control_plane
    namespace = operator_run.new_namespace(cluster)
    sets = operator_run.chart_values(mode, namespace)
    account = operator_run.install_rbac(cluster, helm_bin, release=f"md-{mode}", sets=sets)
    kubeconfig = operator_run.token_kubeconfig(cluster, account, tmp_path / "operator.kubeconfig")

    # 1. The API server's authorizer grants every documented call, and nothing else we checked.
    assert_authorizer_agrees(cluster, account, namespace, mode)

    # 2. The real operator, under that account only, reconciles without being forbidden.
    watched = [] if mode == "cluster-wide" else [namespace]
    operator = Operator(kubeconfig, tmp_path / "operator.log", namespaces=watched)
    try:
        operator_run.apply_cached_and_uncached(cluster, namespace, hub)
        operator_run.wait_for_children(cluster, namespace, log=operator.log)
        for name in ("cached", "uncached", operator_run.SHARED_USER):
            status = operator_run.wait_for_status(cluster, namespace, name)
            assert status.get("resolvedRevision") == hub.repos[REPO_ID].refs["main"]
        operator_run.wait_for_status(
            cluster, namespace, operator_run.SHARED_CACHE, kind="modelcache"
        )
        time.sleep(2)  # a few more reconcile and poll rounds
        assert operator.proc.poll() is None, f"operator exited:\n{operator.text()[-3000:]}"
    finally:
        operator.stop()
    forbidden = operator_run.forbidden_lines(operator.text())
    assert forbidden == [], "\n".join(forbidden[:20])
