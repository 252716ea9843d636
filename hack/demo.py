"""The main job on a real node: `kubectl apply` a ModelDeployment and watch it become Ready.

What runs, all on this machine (no Docker, no registry, nothing leaves the machine):
1. Builds what is missing (cached): the Kubernetes binaries with kubelet and kube-proxy, the
   operator and runtime images from our Dockerfile (buildah), the pause image.
2. Starts the local cluster with a real node: kubelet + containerd + runc + bridge CNI +
   kube-proxy, the images imported into containerd (hack/local-cluster.sh up --node).
3. Generates a tiny Llama model (random weights, real tokenizer) and serves it from a hub
   mirror on the pod network's gateway address.
4. Installs the chart (the operator runs in a pod) and applies a ModelDeployment with a cache
   volume; prints every phase, the fetch Job, and each pod's Ready condition (kubelet's own
   readiness probe) beside what the runtime itself says, as they change.
5. Asks for a completion through the Service's ClusterIP (kube-proxy), and leaves the
   cluster running for you to look at. `make demo-down` stops and removes everything.

Run it with `make demo`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import modelflow, tinymodels  # noqa: E402
from tests.support.cluster import lifecycle, processes  # noqa: E402
from tests.support.cluster import tools as tools_support  # noqa: E402

REPO = "demo/tiny-chat"
NAME = "tiny-chat"
NAMESPACE = "demo"
BEGAN = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - BEGAN:6.1f}s] {message}", flush=True)


def build(what: str, command: list[str], env: dict[str, str] | None = None) -> str:
    """Run a build script that prints its result path; its progress goes to our stderr."""
    say(f"{what}: {' '.join(command)}")
    began = time.monotonic()
    done = subprocess.run(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"demo: {what} failed (exit {done.returncode}); see the messages above")
    result = done.stdout.strip().splitlines()[-1]
    say(f"  done in {time.monotonic() - began:.0f} s: {result}")
    return result


def start_cluster(images: list[str]) -> lifecycle.Cluster:
    argv = [str(ROOT / "hack" / "local-cluster.sh"), "up", "--node"]
    for image in images:
        argv += ["--image", image]
    say(f"starting the cluster with a real node: {' '.join(argv[1:])}")
    done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit("demo: the cluster did not start; see the messages above")
    state = lifecycle.recorded_state_dir()
    if state is None:
        raise SystemExit("demo: the cluster started but recorded no state dir")
    return lifecycle.attach(state)


def start_mirror(cluster: lifecycle.Cluster) -> tuple[str, str]:
    """Generate the model and serve it from a mirror recorded with the cluster's processes
    (so `make demo-down` stops it too). Returns (endpoint, commit)."""
    assert cluster.state_dir is not None and cluster.pod_gateway is not None
    work = cluster.state_dir / "demo"
    source = tinymodels.build_causal_lm(work / "model", approx_bytes=40e6)
    size = sum(p.stat().st_size for p in tinymodels.model_files(source))
    say(f"generated a tiny Llama model: {size / 1e6:.1f} MB in {source}")
    ready_file = work / "mirror.json"
    argv = [sys.executable, "-m", "tests.support.hubserver", "--host", cluster.pod_gateway,
            "--repo", f"{REPO}={source}", "--ready-file", str(ready_file)]  # fmt: skip
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env_path}" if env_path else str(ROOT)
    processes.launch(cluster.state_dir, "hub-mirror", argv, die_with_parent=False)
    deadline = time.monotonic() + 30
    while not ready_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: the hub mirror did not start; see {cluster.state_dir}/logs")
        time.sleep(0.1)
    mirror = json.loads(ready_file.read_text())
    say(f"hub mirror on {mirror['endpoint']} (the pod network) serves {REPO} at main = "
        f"{mirror['commits'][REPO][:12]}")  # fmt: skip
    return str(mirror["endpoint"]), str(mirror["commits"][REPO])


def main() -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if lifecycle.recorded_state_dir() is not None:
        raise SystemExit(
            "demo: a local cluster is already running; `make demo-down` first (it stops and "
            "removes it), then `make demo` again"
        )
    say("building what is missing (first run on a fresh machine: ~30 min, then seconds)")
    tools = build("Kubernetes binaries (with kubelet, kube-proxy)", ["hack/build-tools.sh"],
                  {"MODELDEPLOY_TOOLS": tools_support.NODE_TOOLS})  # fmt: skip
    os.environ["MODELDEPLOY_TOOLS_BIN"] = tools
    operator = build("operator image", ["hack/image/build.sh"], {"TORCH_VARIANT": "none"})
    runtime = build("runtime image (torch)", ["hack/image/build.sh"], {"TORCH_VARIANT": "cuda"})
    cluster = start_cluster([operator, runtime])
    say(f"node {cluster.node_name} Ready; pods get addresses on {cluster.pod_gateway}/24")
    endpoint, _commit = start_mirror(cluster)
    operator_ref, runtime_ref = (
        modelflow.image_ref(Path(operator)),
        modelflow.image_ref(Path(runtime)),
    )
    say(f"$ helm install {modelflow.RELEASE} charts/modeldeploy -n {modelflow.OPERATOR_NAMESPACE} "
        f"(operator {operator_ref}, runtime {runtime_ref})")  # fmt: skip
    modelflow.install_chart(
        cluster, operator_image=operator_ref, runtime_image=runtime_ref,
        hub_endpoint=endpoint, pod_network=f"{cluster.pod_gateway}/24",
    )  # fmt: skip
    say("operator pod Ready")
    cluster.kubectl("create", "namespace", NAMESPACE)
    assert cluster.storage_class is not None
    manifest = modelflow.model_deployment(
        NAME, NAMESPACE, repo=REPO, storage_class=cluster.storage_class
    )
    say(f"$ kubectl apply -f - <<EOF\n{yaml.safe_dump(manifest, sort_keys=False)}EOF")
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    watcher = modelflow.Watcher(cluster, NAMESPACE, NAME, say)
    snap = watcher.until("Ready", modelflow.is_ready, timeout=1800)
    return finish(cluster, watcher, snap)


def finish(cluster: lifecycle.Cluster, watcher: modelflow.Watcher, snap: modelflow.Snapshot) -> int:
    evidence = watcher.evidence
    if evidence.ready_while_not_serving:
        say(f"LIE: {evidence.ready_while_not_serving}")
        return 1
    (pod,) = [p for p in snap.pods if not p.deleting]
    history = " -> ".join(f"{t['state']} {t['at'][11:23]}" for t in pod.runtime_history)
    say(f"the runtime's own history: {history}")
    say(f"kubelet's readiness probe admitted {pod.name} to the Service at {pod.ready_since}: "
        "after the runtime said Ready, never before")  # fmt: skip
    status = (snap.model or {}).get("status", {})
    say(f"status: phase {status.get('phase')}, ready {status.get('ready')}, revision "
        f"{status.get('shortRevision')}, timings {json.dumps(status.get('timings'))}")  # fmt: skip
    # kube-proxy programs the Service's route a moment after the pod is Ready (the operator
    # cannot see it): until then the ClusterIP refuses connections
    base_url = modelflow.routed(watcher.api, NAMESPACE, NAME)
    prompt = "The model says"
    say(f"$ curl {base_url}/v1/completions (the Service's ClusterIP)")
    answer = modelflow.complete(base_url, prompt, max_tokens=12)
    say(f"completion for {prompt!r}: {answer['choices'][0]['text']!r} (random weights: gibberish)")
    say(f"the cluster keeps running: export KUBECONFIG={cluster.kubeconfig}; "
        f"kubectl get modeldeployments -n {NAMESPACE}")  # fmt: skip
    say("tear it all down with: make demo-down")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
