"""A real API server serves the ModelCache CRD as generated: refusals, defaults, explain, columns.

The CEL rules are judged by the API server alone; the same table (refused_at_apply.CACHE_*)
holds the Python checks to it (test_python_checks_agree_with_the_crd.py). Every spec field
is described in the schema the server publishes, so `kubectl explain modelcache.spec` is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modeldeploy.operator.api import cache, crd, status
from tests.api.conftest import REPO_ROOT
from tests.api.refused_at_apply import (
    CACHE_ACCEPTED,
    CACHE_REFUSED,
    CACHE_REFUSED_BY_CEL,
    CacheManifest,
    CacheRefused,
)
from tests.support.cluster import Cluster
from tests.support.cluster.fixtures import fresh_namespace
from tests.support.cluster.polling import eventually

pytestmark = pytest.mark.cluster

# What the API server says when a rule was not evaluated cleanly (a runtime error, or skipped
# after a schema error): a CEL case must fail its own rule, and only that.
_RULE_TROUBLE = ("evaluating rule", "did not match a supported", "some validation rules were not")


@pytest.fixture(scope="module")
def served(cluster: Cluster) -> Cluster:
    """Both CRDs of crds/, applied as a user would, and Established."""
    for name in crd.CRD_FILES:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / name))
    for definition in crd.DEFINITIONS:
        eventually(
            lambda d=definition: cluster.kubectl_json("get", "crd", d.crd_name),
            lambda body: any(
                c["type"] == "Established" and c["status"] == "True"
                for c in body.get("status", {}).get("conditions", [])
            ),
            what=f"CRD {definition.crd_name} Established",
        )
    return cluster


@pytest.fixture(scope="module")
def shared_namespace(served: Cluster) -> Iterator[str]:
    yield from fresh_namespace(served, "mcache")


def _in(namespace: str, case: CacheManifest) -> str:
    body = case.body()
    body["metadata"]["namespace"] = namespace
    return yaml.safe_dump(body)


@pytest.mark.parametrize("case", CACHE_REFUSED, ids=lambda c: c.id)
def test_refused_at_apply_naming_the_field(
    served: Cluster, shared_namespace: str, case: CacheRefused
) -> None:
    done = served.kubectl("apply", "-f", "-", stdin=_in(shared_namespace, case), check=False)
    assert done.returncode != 0, f"{case.id} was accepted"
    assert case.field in done.stderr, done.stderr
    if case in CACHE_REFUSED_BY_CEL:
        assert not any(trouble in done.stderr for trouble in _RULE_TROUBLE), done.stderr
    gone = served.kubectl("get", "mcache", case.object_name, "-n", shared_namespace, check=False)
    assert gone.returncode != 0


@pytest.mark.parametrize("case", CACHE_ACCEPTED, ids=lambda c: c.id)
def test_edge_cases_beside_the_rules_are_accepted(
    served: Cluster, shared_namespace: str, case: CacheManifest
) -> None:
    done = served.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=_in(shared_namespace, case), check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_server_fills_the_defaults_the_models_fill(
    served: Cluster, shared_namespace: str
) -> None:
    done = served.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-",
        stdin=_in(shared_namespace, CacheManifest("defaults")),
    )  # fmt: skip
    spec = json.loads(done.stdout)["spec"]
    model = cache.ModelCacheSpec.model_validate({"storage": {"size": "1Gi"}})
    expected = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert spec == {key: value for key, value in expected.items() if value != []}


def _published_schema(cluster: Cluster) -> dict[str, Any]:
    document = json.loads(
        cluster.kubectl("get", "--raw", "/openapi/v3/apis/modeldeploy.io/v1alpha1").stdout
    )
    schema: dict[str, Any] = document["components"]["schemas"]["io.modeldeploy.v1alpha1.ModelCache"]
    return schema


def _fields(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, sub in node.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from _fields(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _fields(node["items"], f"{path}[]")


def test_the_published_schema_describes_every_spec_field(served: Cluster) -> None:
    spec = _published_schema(served)["properties"]["spec"]
    fields = dict(_fields(spec, "spec"))
    assert "spec.retention.maxUnusedFor" in fields and "spec.preload[].tokenSecretRef.key" in fields
    undescribed = [path for path, node in fields.items() if not node.get("description")]
    assert undescribed == []


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("path", ["spec", "spec.storage", "spec.verify", "spec.retention"])
def test_kubectl_explain_describes_each_field(served: Cluster, path: str) -> None:
    explained = _flat(served.kubectl("explain", f"modelcache.{path}").stdout)
    node = crd.openapi_schema(definition=crd.MODEL_CACHE)
    for part in path.split("."):
        node = node["properties"][part]
    for name, field in node["properties"].items():
        assert f" {name} " in explained, name
        assert _flat(field["description"])[:60] in explained, name


def test_columns_show_the_inventory(served: Cluster, shared_namespace: str) -> None:
    served.kubectl("apply", "-f", "-", stdin=_in(shared_namespace, CacheManifest("columns")))
    written = cache.ModelCacheStatus(
        capacity_bytes=200 * 2**30,
        used_bytes=100 * 2**30,
        used_percent=50,
        used="100.0 GiB (50%)",
        capacity="200.0 GiB",
        model_count=1,
        last_verified="2026-01-01T00:00:00Z",
        inventory_at="2026-01-01T00:00:00Z",
        next_verify_at="2026-01-02T00:00:00Z",
        models=[cache.CachedModel(name="acme--tiny--" + "a" * 40 + "--0123456789ab",
                                  repo="acme/tiny", commit="a" * 40,
                                  state=cache.CachedModelState.VERIFIED, used_by=["chat"])],
        conditions=[status.Condition(type=cache.CacheConditionType.READY,
                                     status=status.ConditionStatus.TRUE, reason="Inventoried",
                                     last_transition_time="2026-01-01T00:00:00Z")],
    )  # fmt: skip
    payload = {"status": written.model_dump(by_alias=True, mode="json", exclude_none=True)}
    served.kubectl(
        "patch", "mcache", "columns", "-n", shared_namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps(payload),
    )  # fmt: skip
    stored = served.kubectl_json("get", "mcache", "columns", "-n", shared_namespace)
    assert stored["status"] == payload["status"], "the status schema pruned a field"
    table = served.kubectl("get", "mcache", "columns", "-n", shared_namespace).stdout
    header, row = (line.split() for line in table.splitlines())
    assert header == ["NAME", "MODELS", "USED", "CAPACITY", "LAST-VERIFIED", "AGE"]
    assert row[:7] == ["columns", "1", "100.0", "GiB", "(50%)", "200.0", "GiB"]
