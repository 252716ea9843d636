"""A ModelDeployment with `spec.runtime.engine: vllm` on the real node, as a user would run it.

The chart installed with the node's images and `runtime.vllm.cpuImage` naming the vLLM CPU image
that hack/image/build.sh built (ENGINE=vllm: the operator image's content plus vLLM's own
environment at /opt/vllm), imported into the node's containerd. The tiny Llama (heads of 32
dimensions: vLLM's CPU attention has no kernel for 16) is fetched and verified as for the builtin
engine; the runtime starts vLLM on the verified directory, warms it up, and only then is the pod
Ready; a chat completion answers through the Service (kube-proxy).

The image is 6.8 GB (13 GB kept by its build) and the node keeps ~7 GB more: hack/setup.sh
builds it only where the disk has that room, and exports its layout as
MODELDEPLOY_NODE_VLLM_IMAGE (empty otherwise, with the reason in MODELDEPLOY_NODE_VLLM_WHY_NOT).
Without the room this test skips with that reason, which CI allows; without the variables at
all (hack/setup.sh not run) it cannot run, which CI does not allow.

The tests of this module share one deployment (`deployed`): vLLM's start costs a minute or two.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import modelflow, skips
from tests.support.cluster import Cluster, node

# The first test also pays for importing the vLLM image (gigabytes) and for vLLM's start.
pytestmark = [pytest.mark.node, pytest.mark.timeout(2400)]

REPO = "e2e/tiny-vllm"
NAME = "tiny-vllm"
NAMESPACE = "vllm-models"
READY_TIMEOUT = 1200  # vLLM's first start on 2 cores: imports, the engine's own process, warm-up
# vLLM's CPU backend reserves its KV cache up front: 1 GiB is plenty for the tiny model
# (the engine's default is a share of the node's whole memory). --enforce-eager: no graph
# compilation on CPU (minutes on 2 cores, and a compiler the image does not have).
ENGINE_ARGS = ["--enforce-eager", "--kv-cache-memory-bytes=1G"]


def vllm_image_layout() -> Path:
    """The vLLM CPU image's layout that hack/setup.sh exported, or a skip saying why not."""
    layout = os.environ.get("MODELDEPLOY_NODE_VLLM_IMAGE")
    why_not = os.environ.get("MODELDEPLOY_NODE_VLLM_WHY_NOT", "")
    if not layout:
        if why_not:
            print(f"the vLLM CPU image was not built: {why_not}")
            pytest.skip(skips.NO_DISK_FOR_VLLM_IMAGE)
        skips.cannot_run(
            'MODELDEPLOY_NODE_VLLM_IMAGE is not set: run `eval "$(hack/setup.sh test)"` '
            "(it builds the vLLM CPU image where the disk has room)"
        )
    path = Path(layout)
    if not (path / "index.json").is_file():
        skips.cannot_run(f"MODELDEPLOY_NODE_VLLM_IMAGE={layout}: no OCI layout there")
    return path


@dataclasses.dataclass
class Deployed:
    cluster: Cluster
    watcher: modelflow.Watcher
    ready: modelflow.Snapshot
    image: str


@pytest.fixture(scope="module")
def deployed(node_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    layout = vllm_image_layout()
    assert node_cluster.state_dir is not None
    (image,) = node.load_images(node_cluster.state_dir, (layout,))
    lines: list[str] = []
    with modelflow.chart_and_model(
        node_cluster, tmp_path_factory.mktemp("model"), repo=REPO, namespace=NAMESPACE,
        approx_bytes=None, num_attention_heads=2, values={"runtime.vllm.cpuImage": image},
    ) as _hosted:  # fmt: skip
        manifest = modelflow.model_deployment(
            NAME, NAMESPACE, repo=REPO, storage_class=node_cluster.storage_class or ""
        )
        spec = manifest["spec"]
        spec["runtime"]["engine"] = "vllm"
        spec["runtime"]["engineArgs"] = ENGINE_ARGS
        # The engine process (torch, vLLM and its KV cache) next to the runtime: ~3 GB here.
        spec["resources"] = {"requests": {"cpu": "500m", "memory": "3Gi"}}
        node_cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
        watcher = modelflow.Watcher(node_cluster, NAMESPACE, NAME, lines.append)
        try:
            ready = watcher.until("Ready", modelflow.is_ready, timeout=READY_TIMEOUT)
            yield Deployed(node_cluster, watcher, ready, image)
        finally:
            print("\n".join(lines))


def chat(base_url: str, content: str, *, within: float = 60) -> dict[str, Any]:
    """POST /v1/chat/completions through the Service, retried while kube-proxy has not yet
    programmed its rules (the connection is refused until then)."""
    body = json.dumps(
        {
            "model": NAME,  # the served model name the operator sets: the deployment's name
            "messages": [{"role": "user", "content": content}],
            "max_tokens": 8,
            "temperature": 0,
        }
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_runtime_pod_runs_the_vllm_cpu_image_and_is_ready_only_after_warm_up(
    deployed: Deployed,
) -> None:
    status = deployed.ready.model["status"] if deployed.ready.model else {}
    assert status["phase"] == "Ready"
    assert deployed.watcher.evidence.ready_while_not_serving == []
    (pod,) = [p for p in deployed.ready.pods if not p.deleting]
    assert pod.ready and pod.runtime_state == "Ready"
    states = [t["state"] for t in pod.runtime_history]
    for earlier in ("Verifying", "Loading", "WarmingUp"):
        assert states.index(earlier) < states.index("Ready"), states
    spec = deployed.watcher.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{pod.name}")["spec"]
    (container,) = [c for c in spec["containers"] if c["name"] == "runtime"]
    assert container["image"] == deployed.image
    args = container["args"]
    assert args[args.index("--engine") + 1] == "vllm", args
    assert "--engine-arg=--enforce-eager" in args, args


def test_chat_completion_is_served_by_vllm_through_the_service(deployed: Deployed) -> None:
    # kube-proxy programs the Service a moment after the pod turned Ready: wait for the route.
    base_url = modelflow.routed(deployed.watcher.api, NAMESPACE, NAME)
    answer = chat(base_url, "Hello, who are you?")
    assert answer["model"] == NAME
    message = answer["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"]
    assert answer["usage"]["completion_tokens"] > 0
