"""The real node's storage: a claim binds to a local volume and the image's user can write to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.cluster.polling import eventually

pytestmark = pytest.mark.node


def test_claim_binds_to_a_local_volume_writable_by_uid_65532(
    node_cluster: Cluster, node_namespace: str, python_image: str
) -> None:
    claim = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "cache"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }  # fmt: skip
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "writer"},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsUser": 65532, "runAsGroup": 65532},
            "containers": [{
                "name": "writer", "image": python_image, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "id -u > /cache/written-by && cat /cache/written-by"],
                "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
            }],
            "volumes": [{"name": "cache", "persistentVolumeClaim": {"claimName": "cache"}}],
        },
    }  # fmt: skip
    kubectl = node_cluster.kubectl
    kubectl("apply", "-n", node_namespace, "-f", "-", stdin=json.dumps(claim))
    bound = eventually(
        lambda: node_cluster.kubectl_json("get", "pvc", "cache", "-n", node_namespace),
        lambda c: c["status"].get("phase") == "Bound", what="claim Bound",
    )  # fmt: skip
    volume = node_cluster.kubectl_json("get", "pv", bound["spec"]["volumeName"])
    assert volume["spec"]["storageClassName"] == node_cluster.storage_class == "modeldeploy-local"
    kubectl("apply", "-n", node_namespace, "-f", "-", stdin=json.dumps(pod))
    eventually(
        lambda: node_cluster.kubectl_json("get", "pod", "writer", "-n", node_namespace),
        lambda p: p["status"].get("phase") in ("Succeeded", "Failed"), what="writer done",
        timeout=90,
    )  # fmt: skip
    assert kubectl("logs", "writer", "-n", node_namespace).stdout.strip() == "65532"
    written = Path(volume["spec"]["hostPath"]["path"]) / "written-by"
    assert written.read_text().strip() == "65532"
    assert written.stat().st_uid == 65532
