"""The real node's storage: a default StorageClass and statically made hostPath volumes.

No provisioner runs on these machines, so the volumes exist before any claim: a claim of the class
binds at once (Immediate) to a free volume that is big enough. Their directories live in the run's
state dir, owned by uid/gid 65532 (the image's user): hostPath ignores fsGroup.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STORAGE_CLASS = "modeldeploy-local"
VOLUMES = 6
CAPACITY = "20Gi"
OWNER = 65532


def manifests(node: Path) -> str:
    """The StorageClass and VOLUMES PersistentVolumes as a kubectl-appliable JSON List."""
    items: list[dict[str, object]] = [{
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate",
        "reclaimPolicy": "Retain",
    }]  # fmt: skip
    for index in range(VOLUMES):
        path = node / "volumes" / f"pv-{index}"
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, OWNER, OWNER)
        path.chmod(0o775)
        items.append({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"{STORAGE_CLASS}-{index}"},
            "spec": {
                "storageClassName": STORAGE_CLASS, "capacity": {"storage": CAPACITY},
                "accessModes": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(path), "type": "Directory"},
            },
        })  # fmt: skip
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2)
