"""Someone deletes or edits a child: the operator restores it (server-side apply, force)."""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, get
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def test_deleted_service_comes_back(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("svc", namespace=namespace))
    first = helpers.wait_for(
        lambda: get(cluster, "service", "svc", namespace), bool, what="the Service"
    )
    cluster.kubectl("delete", "service", "svc", "-n", namespace)
    again = helpers.wait_for(
        lambda: get(cluster, "service", "svc", namespace), bool, what="the Service restored"
    )
    assert again["metadata"]["uid"] != first["metadata"]["uid"]


def test_deleted_deployment_comes_back(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("dep", namespace=namespace))
    first = helpers.wait_for(
        lambda: get(cluster, "deployment", "dep", namespace), bool, what="the Deployment"
    )
    cluster.kubectl("delete", "deployment", "dep", "-n", namespace)
    helpers.wait_for(
        lambda: get(cluster, "deployment", "dep", namespace),
        lambda d: bool(d) and d["metadata"]["uid"] != first["metadata"]["uid"],
        what="the Deployment restored",
    )


def test_edited_deployment_is_put_back(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("edit", namespace=namespace, replicas=1))
    helpers.wait_for(
        lambda: get(cluster, "deployment", "edit", namespace), bool, what="the Deployment"
    )
    containers = '[{"name":"runtime","image":"evil:1"}]'
    patch = f'{{"spec":{{"replicas":5,"template":{{"spec":{{"containers":{containers}}}}}}}}}'
    cluster.kubectl(
        "patch", "deployment", "edit", "-n", namespace, "--type", "strategic", "-p", patch
    )

    def restored(d: dict | None) -> bool:
        return (
            bool(d)
            and d["spec"]["replicas"] == 1
            and d["spec"]["template"]["spec"]["containers"][0]["image"] != "evil:1"
        )

    helpers.wait_for(
        lambda: get(cluster, "deployment", "edit", namespace),
        restored,
        what="replicas and image restored",
    )
