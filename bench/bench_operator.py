"""Operator benchmark against a real API server (tests/support/cluster: etcd, kube-apiserver,
controller-manager, scheduler, kwok-simulated nodes) and the loopback test hub.

Measures
1. apply-to-children latency: time from creating a ModelDeployment to its Deployment and
   Service existing, over `--samples` objects created one after another (p50, p95);
2. the operator's resident memory (VmRSS) and idle CPU % with `--count` ModelDeployments,
   after every one has a status and the cluster has settled, over `--idle-seconds`.

Goals (issue 5): p50 < 1 s, RSS < 250 MB, idle CPU < 2 %. After the JSON of measurements,
a PASS/FAIL line per goal; exit 1 if any is missed, 2 if it cannot run here (Kubernetes tools
not built, bad options); see bench/goals.py.
Shape of the load: the first `--samples` objects are CPU-only with 1 replica (kwok runs
their pods; the runtimes cannot be reached, so those stay "Deploying" and are polled every
poll interval); the rest have 0 replicas (the simulated CPU node holds at most 110 pods).
Every object uses `revision: main`, so each one is re-resolved against the hub every
resolve interval (operator defaults: poll 15 s, resolve 300 s).

    python bench/bench_operator.py [--count 500] [--samples 50] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightkube import ApiError, Client  # noqa: E402
from lightkube.config.kubeconfig import KubeConfig  # noqa: E402
from lightkube.generic_resource import create_namespaced_resource  # noqa: E402
from lightkube.resources.apps_v1 import Deployment  # noqa: E402
from lightkube.resources.core_v1 import Namespace, Service  # noqa: E402

from bench import goals  # noqa: E402
from tests.e2e import helpers  # noqa: E402
from tests.support.cluster import running_cluster, unavailable_reason  # noqa: E402
from tests.support.cluster.polling import eventually  # noqa: E402
from tests.support.hubserver import HubServer, safetensors_bytes  # noqa: E402

MD = create_namespaced_resource("modeldeploy.io", "v1alpha1", "ModelDeployment", "modeldeployments")
NAMESPACE = "bench"
LATENCY_P50 = goals.Goal("apply-to-children p50", "<", 1.0, unit="s")
OPERATOR_RSS = goals.Goal("operator RSS", "<", 250.0, unit="MB")
IDLE_CPU = goals.Goal("operator idle CPU", "<", 2.0, unit="%")


def _exists(client: Client, kind: Any, name: str) -> bool:
    try:
        client.get(kind, name, namespace=NAMESPACE)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


def _create(client: Client, name: str, *, replicas: int) -> None:
    body = helpers.model_deployment(name, namespace=NAMESPACE, replicas=replicas)
    client.create(MD(metadata=body["metadata"], spec=body["spec"]))


def latency(client: Client, samples: int) -> list[float]:
    seconds = []
    for index in range(samples):
        name = f"lat-{index:03d}"
        started = time.perf_counter()
        _create(client, name, replicas=1)
        while not (_exists(client, Deployment, name) and _exists(client, Service, name)):
            time.sleep(0.01)
        seconds.append(time.perf_counter() - started)
    return seconds


def _all_have_status(client: Client, count: int) -> int:
    return sum(
        1 for md in client.list(MD, namespace=NAMESPACE) if (md.get("status") or {}).get("phase")
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _counters(operator: helpers.OperatorProcess) -> dict[str, float]:
    """Reconciles, status writes and applies so far, from the operator's /metrics."""
    text = helpers.http_get(f"http://127.0.0.1:{operator.metrics_port}/metrics") or ""
    wanted = {
        "reconciles": "modeldeploy_operator_reconciles_total",
        "status_writes": "modeldeploy_operator_status_writes_total",
        "applies": "modeldeploy_operator_applies_total",
        "watch_events": "modeldeploy_operator_watch_events_total",
    }
    counts = dict.fromkeys(wanted, 0.0)
    for line in text.splitlines():
        if line.startswith("modeldeploy_operator_watch_events_total{"):
            resource = line.split('"')[1]
            counts[f"watch_events:{resource}"] = float(line.rsplit(" ", 1)[1])
        for key, name in wanted.items():
            if line.startswith(name) and not line.startswith(f"{name[:-6]}_created"):
                counts[key] += float(line.rsplit(" ", 1)[1])
    return counts


def _diagnose(client: Client) -> None:
    """Print which Deployments changed during 10 s of idling, and how (stderr)."""
    before = {d.metadata.name: d for d in client.list(Deployment, namespace=NAMESPACE)}
    time.sleep(10)
    after = {d.metadata.name: d for d in client.list(Deployment, namespace=NAMESPACE)}
    changed = [
        n
        for n in after
        if n in before and after[n].metadata.resourceVersion != before[n].metadata.resourceVersion
    ]
    print(
        f"{len(changed)} of {len(after)} Deployments changed in 10 s: {changed[:10]}",
        file=sys.stderr,
    )
    for name in changed[:2]:
        old, new = before[name].to_dict(), after[name].to_dict()
        print(name, "status before:", json.dumps(old.get("status"))[:600], file=sys.stderr)
        print(name, "status after:", json.dumps(new.get("status"))[:600], file=sys.stderr)
        print(
            name,
            "generation",
            old["metadata"].get("generation"),
            new["metadata"].get("generation"),
            file=sys.stderr,
        )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with running_cluster() as cluster, HubServer() as hub:
        hub.add_repo(
            "acme/tiny",
            {
                "config.json": b"{}",
                "model.safetensors": safetensors_bytes({"w": ("F32", (256, 256))}),
            },
        )
        cluster.kubectl("apply", "--server-side", "--filename", str(helpers.CRD_FILE))
        crd = "modeldeployments.modeldeploy.io"
        eventually(
            lambda: helpers.condition(cluster.kubectl_json("get", "crd", crd), "Established"),
            lambda cond: bool(cond) and cond["status"] == "True",
            what="the CRD",
            timeout=60,
        )
        log = Path(tempfile.mkdtemp(prefix="bench-operator-")) / "operator.log"
        env = {"MODELDEPLOY_STATUS_POLL_SECONDS": "15", "MODELDEPLOY_RESOLVE_SECONDS": "300"}
        operator = helpers.OperatorProcess(
            cluster, hub_endpoint=hub.endpoint, log_path=log, extra_env=env
        )
        operator.start()
        try:
            client = Client(
                config=KubeConfig.from_file(str(cluster.kubeconfig)), field_manager="bench"
            )
            client.create(Namespace(metadata={"name": NAMESPACE}))
            seconds = latency(client, args.samples)
            began = time.perf_counter()
            for index in range(args.count - args.samples):
                _create(client, f"idle-{index:03d}", replicas=0)
            eventually(
                lambda: _all_have_status(client, args.count),
                lambda n: n >= args.count,
                what=f"{args.count} statuses",
                timeout=900,
            )
            all_reconciled = time.perf_counter() - began
            assert operator.process is not None
            pid = operator.process.pid
            time.sleep(args.settle_seconds)
            counters_before = _counters(operator)
            cpu_before, wall_before = _cpu_seconds(pid), time.perf_counter()
            time.sleep(args.idle_seconds)
            cpu = (_cpu_seconds(pid) - cpu_before) / (time.perf_counter() - wall_before) * 100
            counters_after = _counters(operator)
            if args.diagnose:
                _diagnose(client)
            idle_counts = {
                k: counters_after[k] - counters_before.get(k, 0.0) for k in counters_after
            }
            rss = _rss_mb(pid)
        finally:
            operator.stop()
    ordered = sorted(seconds)
    return {
        "modeldeployments": args.count,
        "latency_samples": len(seconds),
        "apply_to_children_p50_s": round(statistics.median(ordered), 3),
        "apply_to_children_p95_s": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3),
        "apply_to_children_max_s": round(ordered[-1], 3),
        "seconds_until_all_have_status": round(all_reconciled, 1),
        "operator_rss_mb": round(rss, 1),
        "operator_idle_cpu_percent": round(cpu, 2),
        "idle_window_s": args.idle_seconds,
        "idle_window_counts": idle_counts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--settle-seconds", type=float, default=30)
    parser.add_argument("--diagnose", action="store_true", help="show what changes while idle")
    args = parser.parse_args()
    if not 1 <= args.samples <= args.count:
        parser.error("--samples must be at least 1 and at most --count")
    if reason := unavailable_reason():
        raise goals.SetupError(reason)
    result = run(args)
    print(json.dumps(result, indent=2))
    return goals.verdict(
        {
            LATENCY_P50: result["apply_to_children_p50_s"],
            OPERATOR_RSS: result["operator_rss_mb"],
            IDLE_CPU: result["operator_idle_cpu_percent"],
        }
    )


if __name__ == "__main__":
    sys.exit(goals.exit_status(main))
