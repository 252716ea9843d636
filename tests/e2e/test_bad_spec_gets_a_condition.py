"""A schema-valid but unusable spec: SpecValid=False naming the field, an Event, no crash.

The API server refuses at apply every rule the CRD can state (test_invalid_manifests_...);
what reaches the operator is what it cannot: here a badly shaped `placement.affinity`, a
pass-through object whose fields neither the schema nor CEL can see.
"""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, condition, wait_status
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def test_spec_valid_false_names_the_field_and_operator_keeps_working(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(
        cluster,
        helpers.model_deployment(
            "bad-affinity", namespace=namespace, placement={"affinity": {"podAntiAffinity": []}}
        ),
    )
    obj = wait_status(
        cluster,
        "bad-affinity",
        namespace,
        lambda o: condition(o, "SpecValid") is not None,
        what="the SpecValid condition",
    )
    valid = condition(obj, "SpecValid")
    assert (
        valid is not None
        and valid["status"] == "False"
        and "spec.placement.affinity.podAntiAffinity" in valid["message"]
    )
    assert obj["status"]["phase"] == "Failed"
    assert helpers.get(cluster, "deployment", "bad-affinity", namespace) is None
    events = helpers.wait_for(
        lambda: helpers.items(cluster, "events", namespace),
        lambda evs: any(
            e["reason"] == "InvalidSpec" and e["involvedObject"]["name"] == "bad-affinity"
            for e in evs
        ),
        what="an InvalidSpec Event",
    )
    assert any(
        "spec.placement.affinity" in e["message"] for e in events if e["reason"] == "InvalidSpec"
    )
    # The operator is alive and still reconciles other objects; fixing the spec recovers.
    assert running_operator.alive()
    apply(
        cluster,
        helpers.model_deployment("bad-affinity", namespace=namespace, model={"repo": "acme/tiny"}),
    )
    wait_status(
        cluster,
        "bad-affinity",
        namespace,
        lambda o: (
            (condition(o, "SpecValid") or {}).get("status") == "True"
            and bool(helpers.get(cluster, "deployment", "bad-affinity", namespace))
        ),
        what="recovery after the fix",
    )


def test_unknown_repo_fails_with_the_hub_reason(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(
        cluster,
        helpers.model_deployment("nope", namespace=namespace, model={"repo": "acme/missing"}),
    )
    obj = wait_status(
        cluster,
        "nope",
        namespace,
        lambda o: (condition(o, "Resolved") or {}).get("status") == "False",
        what="Resolved=False",
    )
    resolved = condition(obj, "Resolved")
    assert resolved is not None and resolved["reason"] == "RepoNotFound"
    assert obj["status"]["phase"] == "Failed"
