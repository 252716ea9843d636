"""The kwok-simulated nodes (no kubelet, no containers) look to the API like real GPU nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster import Cluster, lifecycle

pytestmark = pytest.mark.cluster

NODE_FILES = lifecycle.node_manifests()
GPU_RESOURCES = ("nvidia.com/gpu", "nvidia.com/mig-3g.40gb")


def _manifest(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.mark.parametrize("node_file", NODE_FILES, ids=[p.stem for p in NODE_FILES])
def test_simulated_node_is_ready_with_its_gpu_labels_capacity_and_taints(
    cluster: Cluster, node_file: Path
) -> None:
    want = _manifest(node_file)
    node = cluster.kubectl_json("get", "node", want["metadata"]["name"])
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True", node["status"]["conditions"]
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert want["metadata"]["labels"].items() <= node["metadata"]["labels"].items()
    for field in ("capacity", "allocatable"):
        for resource in GPU_RESOURCES:
            assert node["status"][field].get(resource) == want["status"][field].get(resource)
    # The manifest's taints, exactly; node-lifecycle taints (node.kubernetes.io/*) belong to
    # the node controller, not to the simulated node's definition.
    taints = [t for t in node["spec"].get("taints", []) if not _lifecycle(t)]
    assert taints == want.get("spec", {}).get("taints", [])


def test_gpu_fleet_covers_several_products_memory_sizes_mig_and_a_cpu_only_node(
    cluster: Cluster,
) -> None:
    nodes = cluster.kubectl_json("get", "nodes", "-l", "type=kwok")["items"]
    labels = [n["metadata"]["labels"] for n in nodes]
    products = {lab["nvidia.com/gpu.product"] for lab in labels if "nvidia.com/gpu.product" in lab}
    memories = {
        int(lab["nvidia.com/gpu.memory"]) for lab in labels if "nvidia.com/gpu.memory" in lab
    }
    assert {"NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-40GB", "Tesla-T4"} <= products
    assert {81559, 40960, 15360} <= memories
    assert any("nvidia.com/mig-3g.40gb" in n["status"]["allocatable"] for n in nodes)
    cpu_only = [n for n in nodes if not any(r in n["status"]["allocatable"] for r in GPU_RESOURCES)]
    assert cpu_only and not cpu_only[0]["spec"].get("taints")


def _lifecycle(taint: dict[str, str]) -> bool:
    return taint["key"].startswith("node.kubernetes.io/")
