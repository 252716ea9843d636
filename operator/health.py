"""The operator's own health and metrics.

* Liveness: kopf's built-in endpoint (`http://0.0.0.0:<health port>/healthz`), which
  answers only while kopf's watchers and handlers are alive.
* Metrics: Prometheus exposition on the metrics port — reconcile counts by outcome,
  reconcile durations, status writes, events, and the number of ModelDeployments watched.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry()
RECONCILES = Counter(
    "modeldeploy_operator_reconciles_total",
    "Reconciles by outcome (ok, transient, error)",
    ["outcome"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "modeldeploy_operator_reconcile_errors_total",
    "Reconciles that failed (retried with backoff)",
    registry=REGISTRY,
)
DURATION = Histogram(
    "modeldeploy_operator_reconcile_duration_seconds",
    "Time spent in one reconcile",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
STATUS_WRITES = Counter(
    "modeldeploy_operator_status_writes_total",
    "Status patches (only when status changed)",
    registry=REGISTRY,
)
APPLIES = Counter(
    "modeldeploy_operator_applies_total",
    "Server-side applies of children",
    ["kind"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "modeldeploy_operator_watch_events_total", "Watch events received, by resource",
    ["resource"], registry=REGISTRY,
)  # fmt: skip
WATCHED = Gauge(
    "modeldeploy_operator_modeldeployments", "ModelDeployments with a worker", registry=REGISTRY
)


def record(*, outcome: str, seconds: float) -> None:
    RECONCILES.labels(outcome=outcome).inc()
    DURATION.observe(seconds)
    if outcome != "ok":
        ERRORS.inc()


def start_metrics(port: int, *, addr: str = "0.0.0.0") -> None:
    """Serve /metrics on `port` (a daemon thread; prometheus-client's own server)."""
    start_http_server(port, addr=addr, registry=REGISTRY)


def liveness_endpoint(port: int, *, host: str = "0.0.0.0") -> str:
    """The URL kopf serves its liveness probe on."""
    return f"http://{host}:{port}/healthz"
