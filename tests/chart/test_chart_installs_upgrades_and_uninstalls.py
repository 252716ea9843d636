"""`helm install`, `helm upgrade` and `helm uninstall` work against a real API server.

The release namespace enforces the restricted Pod Security Standard, so the API server itself
refuses the operator pod if the chart's security settings fall short. kwok stands in for the
kubelet (no container runs): what is real is the API server's validation and admission, the
Deployment and ReplicaSet controllers, the scheduler, and Helm's own behaviour (CRDs from
crds/ installed once, kept on uninstall).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.chart import rendering
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CRD = "customresourcedefinition/modeldeployments.modeldeploy.io"
CACHE_CRD = "customresourcedefinition/modelcaches.modeldeploy.io"


def helm_on(cluster: Cluster, helm_bin: Path, home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    done = subprocess.run(
        [str(helm_bin), *args], capture_output=True, text=True, timeout=180, env=env, check=False
    )
    assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stderr}"
    return done.stdout


def operator_pods(cluster: Cluster, namespace: str) -> list[dict[str, object]]:
    pods = cluster.kubectl_json(
        "get", "pods", f"--namespace={namespace}", "--selector=app.kubernetes.io/component=operator"
    )
    return list(pods["items"])


def test_install_upgrade_uninstall_in_a_restricted_namespace(
    cluster: Cluster, namespace: str, helm_bin: Path, tmp_path: Path
) -> None:
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    release = namespace  # cluster-scoped names (ClusterRoles) stay unique per test
    deployment = f"deployment/{release}-modeldeploy"

    notes = helm_on(cluster, helm_bin, tmp_path, "install", release, str(rendering.CHART),
                    f"--namespace={namespace}", "--wait", "--timeout=90s")  # fmt: skip
    assert "kubectl get mdep" in notes and "kubectl apply" in notes
    cluster.kubectl("get", CRD, CACHE_CRD)
    cluster.kubectl("rollout", "status", deployment, f"--namespace={namespace}", "--timeout=60s")
    assert len(operator_pods(cluster, namespace)) == 1

    helm_on(cluster, helm_bin, tmp_path, "upgrade", release, str(rendering.CHART),
            f"--namespace={namespace}", "--set=operator.verbose=true",
            "--wait", "--timeout=90s")  # fmt: skip
    cluster.kubectl("rollout", "status", deployment, f"--namespace={namespace}", "--timeout=60s")
    template = cluster.kubectl_json("get", deployment, f"--namespace={namespace}")["spec"][
        "template"
    ]
    assert "--verbose" in template["spec"]["containers"][0]["args"]

    helm_on(cluster, helm_bin, tmp_path, "uninstall", release, f"--namespace={namespace}", "--wait")
    left = cluster.kubectl("get", f"clusterrole/{release}-modeldeploy", check=False)
    assert left.returncode != 0 and "NotFound" in left.stderr
    # Helm never deletes CRDs: ModelDeployments and ModelCaches survive an uninstall.
    cluster.kubectl("get", CRD, CACHE_CRD)


def pod_from_template(helm_bin: Path, namespace: str) -> dict[str, Any]:
    """A bare Pod made of the chart's operator pod template."""
    template = rendering.one(rendering.render(helm_bin), "Deployment")["spec"]["template"]
    template["spec"].pop("serviceAccountName")  # not installed here; admission is the point
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "operator-pod-check", "namespace": namespace},
        "spec": template["spec"],
    }  # fmt: skip


def admitted(cluster: Cluster, pod: dict[str, Any]) -> tuple[bool, str]:
    done = cluster.kubectl(
        "create", "--dry-run=server", "--filename=-", stdin=json.dumps(pod), check=False
    )
    return done.returncode == 0, done.stderr


def test_restricted_admission_accepts_the_operator_pod_and_would_refuse_a_weaker_one(
    cluster: Cluster, namespace: str, helm_bin: Path
) -> None:
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    pod = pod_from_template(helm_bin, namespace)
    ok, err = admitted(cluster, pod)
    assert ok, err
    weaker = copy.deepcopy(pod)
    weaker["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    ok, err = admitted(cluster, weaker)
    assert not ok and "PodSecurity" in err
