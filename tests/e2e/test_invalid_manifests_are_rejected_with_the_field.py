"""The API server itself rejects invalid ModelDeployments, naming the field (CRD schema + CEL).

Every CEL rule of the CRD has a case (tests/api/refused_at_apply.py, the table the Python
checks are held to as well), and so have the rules that moved into the OpenAPI schema; the
edge cases beside the rules are accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.api.refused_at_apply import ACCEPTED, REFUSED, REFUSED_BY_CEL, Manifest, Refused
from tests.e2e import helpers
from tests.support.cluster import Cluster
from tests.support.cluster.fixtures import fresh_namespace

pytestmark = pytest.mark.cluster

# What the API server says when a rule was not evaluated cleanly (a runtime error, or skipped
# after a schema error): a CEL case must fail its own rule, and only that.
_RULE_TROUBLE = ("evaluating rule", "did not match a supported", "some validation rules were not")


@pytest.fixture(scope="module")
def shared_namespace(cluster: Cluster) -> Iterator[str]:
    """One namespace for the module: nothing refused is ever created in it."""
    yield from fresh_namespace(cluster, "refused")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"gpu": {"count": -1}}, "spec.gpu.count"),
        ({"replicas": "two"}, "spec.replicas"),
        ({"task": "chat"}, "spec.task"),
        (
            {"model": {"repo": "acme/tiny", "revision": "bad ref with spaces"}},
            "spec.model.revision",
        ),
    ],
)
def test_rejected_with_the_field_named(
    cluster: Cluster, namespace: str, crd: object, spec: dict[str, Any], field: str
) -> None:
    done = helpers.apply(
        cluster, helpers.model_deployment("bad", namespace=namespace, **spec), check=False
    )
    assert done.returncode != 0
    assert field in done.stderr, done.stderr
    assert helpers.get(cluster, "modeldeployment", "bad", namespace) is None


def _in(namespace: str, case: Manifest) -> dict[str, Any]:
    body = case.body()
    body["metadata"]["namespace"] = namespace
    return body


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_refused_at_apply_naming_the_field(
    cluster: Cluster, shared_namespace: str, crd: object, case: Refused
) -> None:
    done = helpers.apply(cluster, _in(shared_namespace, case), check=False)
    assert done.returncode != 0, f"{case.id} was accepted"
    assert case.field in done.stderr, done.stderr
    if case in REFUSED_BY_CEL:
        assert not any(trouble in done.stderr for trouble in _RULE_TROUBLE), done.stderr
    assert helpers.get(cluster, "modeldeployment", case.object_name, shared_namespace) is None


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_edge_cases_beside_the_rules_are_accepted(
    cluster: Cluster, shared_namespace: str, crd: object, case: Manifest
) -> None:
    done = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-",
        stdin=yaml.safe_dump(_in(shared_namespace, case)), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
