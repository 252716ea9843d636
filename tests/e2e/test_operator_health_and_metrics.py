"""The operator's own liveness endpoint and Prometheus metrics (reconcile counts, durations)."""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, wait_status
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_health_and_metrics(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("m", namespace=namespace))
    wait_status(
        cluster, "m", namespace, lambda o: bool(o.get("status", {}).get("phase")), what="a status"
    )
    assert helpers.http_get(f"http://127.0.0.1:{running_operator.health_port}/healthz") is not None
    text = helpers.http_get(f"http://127.0.0.1:{running_operator.metrics_port}/metrics") or ""
    assert _metric(text, 'modeldeploy_operator_reconciles_total{outcome="ok"}') >= 1
    assert _metric(text, "modeldeploy_operator_reconcile_duration_seconds_count") >= 1
    assert _metric(text, "modeldeploy_operator_status_writes_total") >= 1
    assert "modeldeploy_operator_reconcile_errors_total" in text
