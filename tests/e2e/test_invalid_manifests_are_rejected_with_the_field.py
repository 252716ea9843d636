"""The API server itself rejects invalid ModelDeployments, naming the field (CRD schema + CEL)."""

from __future__ import annotations

import pytest

from tests.e2e import helpers
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"gpu": {"count": -1}}, "spec.gpu.count"),
        ({"replicas": "two"}, "spec.replicas"),
        ({"task": "chat"}, "spec.task"),
        ({"gpu": {"count": 0, "products": ["NVIDIA-H100-80GB-HBM3"]}}, "spec.gpu.products"),
        (
            {"model": {"repo": "acme/tiny", "revision": "bad ref with spaces"}},
            "spec.model.revision",
        ),
    ],
)
def test_rejected_with_the_field_named(
    cluster: Cluster, namespace: str, crd: object, spec: dict, field: str
) -> None:
    done = helpers.apply(
        cluster, helpers.model_deployment("bad", namespace=namespace, **spec), check=False
    )
    assert done.returncode != 0
    assert field in done.stderr, done.stderr
    assert helpers.get(cluster, "modeldeployment", "bad", namespace) is None
