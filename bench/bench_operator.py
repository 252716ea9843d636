"""Operator benchmark against a real API server (tests/support/cluster: etcd, kube-apiserver,
controller-manager, scheduler, kwok-simulated nodes) and the loopback test hub.

Measures
1. apply-to-children latency: time from creating a ModelDeployment to its Deployment and
   Service existing, over `--samples` objects created one after another (p50, p95);
2. the operator's resident memory (VmRSS) and idle CPU % with `--count` ModelDeployments,
   after every one has a status and the cluster has settled (the samples' pods run: the
   controller-manager, rate-limited, makes them minutes after 2,000 Deployments), over
   `--idle-seconds`;
3. with `--traffic-seconds`, not a goal: the same with 1 request/s on each answering runtime
   (below), to show what usage that moves costs; and, for every window, how often the
   operator asked each answering runtime for /status.

The resolve interval (300 s) is longer than a 240 s window: whether a window holds the
fleet's re-resolves depends on when they last ran; `idle_window_counts` shows what it held.

Two shapes, each with the goals of the issue that set them (bench/goals.py: a PASS/FAIL line
per goal; exit 1 if any is missed, 2 if it cannot run here):

* without `--caches` (issue 5): every ModelDeployment on its own; p50 < 1 s, RSS < 250 MB,
  idle CPU < 2 %. The samples are created first, into an empty cluster.
* `--caches N` (issue 13; its target is `--count 2000 --caches 20 --idle-seconds 240`): N
  ModelCaches (`storage: {size: 10Gi, storageClassName: bench-manual}`), one pre-made
  PersistentVolume each, and ModelDeployment number i names `cache-<i % N>`. A deployment on
  a cache gets its Deployment only once the cache's status says its model is Verified, so
  every claim must bind (a fetch pod with an unbound claim is never scheduled, and kwok
  completes Job pods only once they run): one volume per cache, as a cluster's provisioner
  would make. The fleet is created first and waited for until every one has its Deployment
  (one fetch Job per cache fills each); the samples come after, onto caches that hold the
  model, so the latency is measured at full scale. p50 < 0.5 s, RSS < 300 MB, idle CPU < 2 %.

Shape of the load: the `--samples` objects are CPU-only with 1 replica (kwok runs their pods);
the rest have 0 replicas (the simulated CPU node holds at most 110 pods). No container runs,
so no runtime answers /status by itself: the operator asks each runtime pod's loopback address
(127.244.0.0/16) and is refused; the replica is Unreachable and its deployment is asked again
every poll interval. With `--answering K` (default: half the samples with `--caches`, none
without) the bench answers for the first K sample runtimes on their pod address and port —
Ready, with a request count and a last-request time — so the usage gathering (runtime
/status → deployment status → the ModelCache's status) carries real numbers; Ready
deployments are then asked at the operator's steady cadence. Every object uses
`revision: main`, so each one is re-resolved against the hub every resolve interval. All
intervals are the operator's defaults (poll 15 s, resolve 300 s, cache inventory 600 s).

    python bench/bench_operator.py [--count 500] [--samples 50] [--idle-seconds 60]
    python bench/bench_operator.py --count 2000 --caches 20 --idle-seconds 240
    python bench/bench_operator.py --count 2000 --caches 20 --traffic-seconds 60
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightkube import ApiError, Client  # noqa: E402
from lightkube.config.kubeconfig import KubeConfig  # noqa: E402
from lightkube.generic_resource import create_namespaced_resource  # noqa: E402
from lightkube.resources.apps_v1 import Deployment  # noqa: E402
from lightkube.resources.core_v1 import Namespace, Pod, Service  # noqa: E402

from bench import goals  # noqa: E402
from tests.e2e import helpers  # noqa: E402
from tests.support.cluster import Cluster, running_cluster, unavailable_reason  # noqa: E402
from tests.support.cluster.polling import eventually  # noqa: E402
from tests.support.hubserver import HubServer, safetensors_bytes  # noqa: E402

MD = create_namespaced_resource("modeldeploy.io", "v1alpha1", "ModelDeployment", "modeldeployments")
MC = create_namespaced_resource("modeldeploy.io", "v1alpha1", "ModelCache", "modelcaches")
NAMESPACE = "bench"
STORAGE_CLASS = "bench-manual"
LABEL_DEPLOYMENT = "modeldeploy.io/deployment"
LABEL_COMPONENT = "app.kubernetes.io/component"
CACHE_SIZE = "10Gi"
T = TypeVar("T")

# Issue 5: each ModelDeployment on its own.
LATENCY_P50 = goals.Goal("apply-to-children p50", "<", 1.0, unit="s")
OPERATOR_RSS = goals.Goal("operator RSS", "<", 250.0, unit="MB")
IDLE_CPU = goals.Goal("operator idle CPU", "<", 2.0, unit="%")
# Issue 13: ModelDeployments sharing ModelCaches (2,000 on 20).
SHARED_LATENCY_P50 = goals.Goal("apply-to-children p50", "<", 0.5, unit="s")
SHARED_OPERATOR_RSS = goals.Goal("operator RSS", "<", 300.0, unit="MB")


def _exists(client: Client, kind: Any, name: str) -> bool:
    try:
        client.get(kind, name, namespace=NAMESPACE)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


def _create(client: Client, name: str, *, replicas: int, cache: str | None = None) -> int:
    """Create a ModelDeployment; returns its runtime port."""
    shared = {"cache": {"name": cache}} if cache else {}
    body = helpers.model_deployment(name, namespace=NAMESPACE, replicas=replicas, **shared)
    client.create(MD(metadata=body["metadata"], spec=body["spec"]))
    return int(body["spec"]["runtime"]["port"])


def _cache_of(index: int, caches: int) -> str | None:
    return f"cache-{index % caches}" if caches else None


def latency(client: Client, samples: int, *, caches: int = 0) -> tuple[list[float], dict[str, int]]:
    """Seconds from create to Deployment and Service, per sample; and each sample's port."""
    seconds, ports = [], {}
    for index in range(samples):
        name = f"lat-{index:03d}"
        started = time.perf_counter()
        ports[name] = _create(client, name, replicas=1, cache=_cache_of(index, caches))
        while not (_exists(client, Deployment, name) and _exists(client, Service, name)):
            time.sleep(0.01)
        seconds.append(time.perf_counter() - started)
    return seconds, ports


def _all_have_status(client: Client, count: int) -> int:
    return sum(
        1 for md in client.list(MD, namespace=NAMESPACE) if (md.get("status") or {}).get("phase")
    )


def _slowly(observe: Callable[[], T], every: float) -> Callable[[], T]:
    """`observe`, at most once per `every` seconds: listing 2,000 objects four times a
    second would load the API server (and the 2 cores) more than the operator does."""

    def paced() -> T:
        time.sleep(every)
        return observe()

    return paced


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _counters(operator: helpers.OperatorProcess) -> dict[str, float]:
    """Reconciles, status writes and applies so far (and by resource or kind), from /metrics."""
    text = helpers.http_get(f"http://127.0.0.1:{operator.metrics_port}/metrics") or ""
    wanted = {
        "reconciles": "modeldeploy_operator_reconciles_total",
        "reconcile_errors": "modeldeploy_operator_reconcile_errors_total",
        "status_writes": "modeldeploy_operator_status_writes_total",
        "applies": "modeldeploy_operator_applies_total",
        "watch_events": "modeldeploy_operator_watch_events_total",
    }
    by_label = {"modeldeploy_operator_watch_events_total{": "watch_events"}
    by_label["modeldeploy_operator_applies_total{"] = "applies"
    counts = dict.fromkeys(wanted, 0.0)
    for line in text.splitlines():
        for prefix, key in by_label.items():
            if line.startswith(prefix):
                label = line.split('"')[1]
                counts[f"{key}:{label}"] = float(line.rsplit(" ", 1)[1])
        for key, name in wanted.items():
            if line.startswith(name) and not line.startswith(f"{name[:-6]}_created"):
                counts[key] += float(line.rsplit(" ", 1)[1])
    return counts


def _since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}


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


class Runtimes:
    """Stand-ins for runtime processes: GET /status on a runtime pod's own loopback address
    and runtime port answers Ready with a usage count. Idle (`rate` 0) the count stays put;
    with traffic it grows by `rate` requests a second per runtime. Counts the /status
    requests the operator made (the usage gathering's real cadence)."""

    def __init__(self, commit: str) -> None:
        self.commit = commit
        self.asked = 0
        self._rate, self._since = 0.0, time.monotonic()
        self._last_request_at = _now_iso()
        self._lock = threading.Lock()
        self.servers: list[ThreadingHTTPServer] = []

    def traffic(self, rate: float) -> None:
        with self._lock:
            self._rate, self._since = rate, time.monotonic()

    def document(self, base: int) -> bytes:
        with self._lock:
            self.asked += 1
            served = int(self._rate * (time.monotonic() - self._since))
            if served:
                self._last_request_at = _now_iso()
            usage = {"requests": base + served, "lastRequestAt": self._last_request_at}
        doc = {"state": "Ready", "progress": 1.0, "commit": self.commit, "verified": True}
        return json.dumps({**doc, "inFlight": 0, "usage": usage}).encode()

    def serve(self, ip: str, port: int, *, base: int) -> None:
        runtimes = self

        class Status(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                body = runtimes.document(base) if self.path.split("?")[0] == "/status" else b""
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        server = ThreadingHTTPServer((ip, port), Status)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@contextlib.contextmanager
def answering(ports: dict[str, int], ips: dict[str, str], *, commit: str) -> Iterator[Runtimes]:
    """A stand-in runtime for the pod of each deployment in `ports` (name → runtime port),
    on that pod's address (`ips`: name → pod IP)."""
    runtimes = Runtimes(commit)
    try:
        for number, (name, port) in enumerate(sorted(ports.items())):
            runtimes.serve(ips[name], port, base=10 + number)
        yield runtimes
    finally:
        runtimes.close()


def _runtime_pod_ips(client: Client) -> dict[str, str]:
    """deployment name → the IP of its Running runtime pod."""
    pods = client.list(Pod, namespace=NAMESPACE, labels={LABEL_COMPONENT: "runtime"})
    return {
        p.metadata.labels[LABEL_DEPLOYMENT]: p.status.podIP
        for p in pods
        if p.metadata and p.metadata.labels and LABEL_DEPLOYMENT in p.metadata.labels
        and p.status and p.status.phase == "Running" and p.status.podIP
    }  # fmt: skip


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _install_crds(cluster: Cluster) -> None:
    for path in helpers.CRD_FILES:
        cluster.kubectl("apply", "--server-side", "--filename", str(path))
    for crd in ("modeldeployments.modeldeploy.io", "modelcaches.modeldeploy.io"):
        eventually(
            functools.partial(_established, cluster, crd), bool, what=f"the CRD {crd}", timeout=60
        )


def _established(cluster: Cluster, crd: str) -> bool:
    found = helpers.condition(cluster.kubectl_json("get", "crd", crd), "Established")
    return found is not None and found.get("status") == "True"


def _create_caches(client: Client, caches: int) -> None:
    for index in range(caches):
        storage = {"size": CACHE_SIZE, "storageClassName": STORAGE_CLASS}
        metadata = {"name": f"cache-{index}", "namespace": NAMESPACE}
        client.create(MC(metadata=metadata, spec={"storage": storage}))  # type: ignore[call-overload]


def _cache_facts(client: Client) -> list[dict[str, Any]]:
    """Per ModelCache: its models, their state and how many deployments use each."""
    facts = []
    for cache in client.list(MC, namespace=NAMESPACE):
        status = cache.get("status") or {}
        models = [
            {
                "state": m.get("state"),
                "usedBy": len(m.get("usedBy") or []),
                "requests": m.get("requests"),
            }
            for m in status.get("models") or []
        ]
        facts.append({"name": (cache.get("metadata") or {}).get("name"), "models": models})
    return facts


def _fleet(
    client: Client, args: argparse.Namespace, operator: helpers.OperatorProcess
) -> tuple[float, dict[str, float]]:
    """Create the ModelDeployments that only idle (0 replicas); wait until the operator has
    done with them. Returns the seconds that took and the operator's counts meanwhile."""
    before, began = _counters(operator), time.perf_counter()
    for index in range(args.samples, args.count):
        _create(client, f"idle-{index:03d}", replicas=0, cache=_cache_of(index, args.caches))
    idle = args.count - args.samples
    existing = idle if args.caches else args.count  # without caches the samples came first
    if args.caches:  # every one has its Deployment: its cache holds the model
        eventually(
            _slowly(lambda: _deployments(client, operator, idle), 3.0),
            lambda n: n >= idle,
            what=f"{idle} Deployments",
            timeout=1500,
        )
    eventually(
        _slowly(lambda: _all_have_status(client, existing), 3.0),
        lambda n: n >= existing,
        what=f"{existing} statuses",
        timeout=900,
    )
    return time.perf_counter() - began, _since(before, _counters(operator))


def _deployments(client: Client, operator: helpers.OperatorProcess, want: int) -> int:
    """How many Deployments exist; listed only once the operator says it applied enough
    (listing 2,000 every few seconds would cost the 2 cores more than the operator does)."""
    applied = int(_counters(operator).get("applies:Deployment", 0))
    if applied < want:
        return applied
    return len(list(client.list(Deployment, namespace=NAMESPACE)))


def run(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Measure into `result` (filled as it goes: a failure late in a long run still leaves
    what was measured before it)."""
    with running_cluster() as cluster, HubServer() as hub, contextlib.ExitStack() as volumes:
        commit = hub.add_repo(
            "acme/tiny",
            {
                "config.json": b"{}",
                "model.safetensors": safetensors_bytes({"w": ("F32", (256, 256))}),
            },
        )
        _install_crds(cluster)
        for index in range(args.caches):
            volumes.enter_context(
                helpers.manual_volume(
                    cluster, f"bench-pv-{index}", storage_class=STORAGE_CLASS, size=CACHE_SIZE
                )
            )
        log = Path(tempfile.mkdtemp(prefix="bench-operator-")) / "operator.log"
        result["operator_log"] = str(log)
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
            _measure(client, args, operator, commit, result)
        finally:
            operator.stop()


def _measure(
    client: Client,
    args: argparse.Namespace,
    operator: helpers.OperatorProcess,
    commit: str,
    result: dict[str, Any],
) -> None:
    if args.caches:
        _create_caches(client, args.caches)
        fleet_seconds, fleet_counts = _fleet(client, args, operator)
        before = _counters(operator)
        seconds, ports = latency(client, args.samples, caches=args.caches)
        result["latency_window_counts"] = _since(before, _counters(operator))
    else:
        seconds, ports = latency(client, args.samples)
        fleet_seconds, fleet_counts = _fleet(client, args, operator)
    ordered = sorted(seconds)
    result["latency_samples"] = len(seconds)
    result["apply_to_children_p50_s"] = round(statistics.median(ordered), 3)
    result["apply_to_children_p95_s"] = round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3)
    result["apply_to_children_max_s"] = round(ordered[-1], 3)
    result["operator_rss_mb_after_latency"] = round(_rss_mb(_pid(operator)), 1)
    result["seconds_until_fleet_settled"] = round(fleet_seconds, 1)
    result["fleet_counts"] = fleet_counts
    eventually(
        _slowly(lambda: _all_have_status(client, args.count), 3.0),
        lambda n: n >= args.count,
        what=f"{args.count} statuses",
        timeout=900,
    )
    # The controller-manager makes the samples' pods only after the fleet's 2,000
    # Deployments (its API rate limit): the cluster has settled when they run.
    ips = eventually(
        _slowly(lambda: _runtime_pod_ips(client), 5.0),
        lambda found: len(found) >= args.samples,
        what=f"{args.samples} runtime pods Running",
        timeout=1500,
    )
    answered = dict(sorted(ports.items())[: args.answering])
    with answering(answered, ips, commit=commit) as runtimes:
        result["runtimes_answering"] = len(answered)
        time.sleep(args.settle_seconds)
        result.update(_window("idle", args.idle_seconds, operator, runtimes))
        result["operator_rss_mb"] = round(_rss_mb(_pid(operator)), 1)
        if args.diagnose:
            _diagnose(client)
        if args.traffic_seconds and answered:
            runtimes.traffic(rate=1.0)
            result.update(_window("traffic", args.traffic_seconds, operator, runtimes))
    if args.caches:
        result["modelcaches_after"] = _cache_facts(client)


def _pid(operator: helpers.OperatorProcess) -> int:
    assert operator.process is not None
    return operator.process.pid


def _window(
    what: str, seconds: float, operator: helpers.OperatorProcess, runtimes: Runtimes
) -> dict[str, Any]:
    """The operator's CPU % over `seconds`, what it did meanwhile, and how often it asked
    each answering runtime for /status (per minute)."""
    pid = _pid(operator)
    before, asked = _counters(operator), runtimes.asked
    cpu_before, wall_before = _cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - wall_before
    cpu = (_cpu_seconds(pid) - cpu_before) / wall * 100
    answering = len(runtimes.servers)
    per_minute = (runtimes.asked - asked) / answering / wall * 60 if answering else None
    return {
        f"operator_{what}_cpu_percent": round(cpu, 2),
        f"{what}_window_s": seconds,
        f"{what}_window_counts": _since(before, _counters(operator)),
        f"{what}_status_asks_per_runtime_per_minute": per_minute and round(per_minute, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--caches", type=int, default=0, help="ModelCaches shared by the fleet")
    parser.add_argument(
        "--answering", type=int, default=None, help="sample runtimes whose /status answers"
    )
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--settle-seconds", type=float, default=30)
    parser.add_argument(
        "--traffic-seconds",
        type=float,
        default=0,
        help="after the idle window: this long with 1 request/s on each answering runtime",
    )
    parser.add_argument("--diagnose", action="store_true", help="show what changes while idle")
    args = parser.parse_args()
    if not 1 <= args.samples <= args.count:
        parser.error("--samples must be at least 1 and at most --count")
    if args.caches < 0:
        parser.error("--caches must not be negative")
    if args.answering is None:
        args.answering = args.samples // 2 if args.caches else 0
    if not 0 <= args.answering <= args.samples:
        parser.error("--answering must be between 0 and --samples")
    if reason := unavailable_reason():
        raise goals.SetupError(reason)
    result: dict[str, Any] = {"modeldeployments": args.count, "modelcaches": args.caches}
    try:
        run(args, result)
    finally:
        print(json.dumps(result, indent=2))
    latency_goal, rss_goal = (
        (SHARED_LATENCY_P50, SHARED_OPERATOR_RSS) if args.caches else (LATENCY_P50, OPERATOR_RSS)
    )
    return goals.verdict(
        {
            latency_goal: result["apply_to_children_p50_s"],
            rss_goal: result["operator_rss_mb"],
            IDLE_CPU: result["operator_idle_cpu_percent"],
        }
    )


if __name__ == "__main__":
    sys.exit(goals.exit_status(main))
