"""What the API server refuses, and a token Secret that is missing, reach the status.

The test cluster has no ServiceMonitor CRD, so `monitoring.serviceMonitor: true` is refused
(404): the other children must still be applied and the status must say ApplyFailed. A
`tokenSecretRef` naming an absent Secret must be TokenUnavailable, not an anonymous resolve.
"""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, condition, wait_status
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def test_a_refused_service_monitor_is_apply_failed_and_the_rest_exists(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(
        cluster,
        helpers.model_deployment(
            "watched",
            namespace=namespace,
            model={"repo": "acme/tiny"},
            monitoring={"serviceMonitor": True},
        ),
    )
    obj = wait_status(
        cluster,
        "watched",
        namespace,
        lambda o: (condition(o, "Degraded") or {}).get("reason") == "ApplyFailed",
        what="Degraded=True ApplyFailed",
    )
    degraded = condition(obj, "Degraded")
    assert degraded is not None and degraded["status"] == "True"
    assert "ServiceMonitor" in degraded["message"]
    assert helpers.get(cluster, "deployment", "watched", namespace) is not None
    assert helpers.get(cluster, "service", "watched", namespace) is not None
    assert obj["status"].get("resolvedRevision")
    assert running_operator.alive()


def test_a_missing_token_secret_is_token_unavailable(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(
        cluster,
        helpers.model_deployment(
            "tokened",
            namespace=namespace,
            model={"repo": "acme/tiny", "tokenSecretRef": {"name": "absent", "key": "token"}},
        ),
    )
    obj = wait_status(
        cluster,
        "tokened",
        namespace,
        lambda o: (condition(o, "Resolved") or {}).get("status") == "False",
        what="Resolved=False",
    )
    resolved = condition(obj, "Resolved")
    assert resolved is not None and resolved["reason"] == "TokenUnavailable"
    assert f"{namespace}/absent" in resolved["message"] and "'token'" in resolved["message"]
