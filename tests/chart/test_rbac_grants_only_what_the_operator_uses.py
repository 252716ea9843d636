"""The chart's RBAC is least privilege: exactly the API calls operator/kube.py documents.

operator/kube.py's docstring lists every API call the operator makes (verbs x resources).
This test reads that table and compares it, both ways, with the rules the chart renders: a
call the chart forgot fails here (and for real in test_chart_rbac_covers_operator.py), and so
does a right the operator never uses. No wildcards, in either mode.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.operator import kube
from tests.chart import rendering

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)

# Rights the chart grants beyond the table, each with its reason (from kube.py's own notes).
EXTRA_GRANTS: dict[Grant, str] = {
    ("modeldeploy.io", "modeldeployments/finalizers", "update"):
        "owner references with blockOwnerDeletion under OwnerReferencesPermissionEnforcement",
    ("modeldeploy.io", "modelcaches/finalizers", "update"):
        "the same, for a ModelCache's volume and Jobs",
}  # fmt: skip
# Calls in the list that cluster-wide mode does not grant: kopf lists and watches namespaces
# only when it is given namespaces (namespaced mode grants them; a real run showed kopf does
# so for plain names too, not only for globs).
NOT_GRANTED: dict[Grant, str] = {
    ("", "namespaces", "list"): "cluster-wide kopf does not follow namespaces",
    ("", "namespaces", "watch"): "cluster-wide kopf does not follow namespaces",
}
CLUSTER_SCOPED = {
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("", "nodes"),
    ("", "namespaces"),
}


def documented_entries(doc: str) -> list[tuple[str, str]]:
    """(verbs, resources) text of each entry: `- VERBS: RESOURCES — why` bullets (a bullet may
    continue on indented lines) or `| VERBS | RESOURCES | why |` table rows."""
    entries: list[tuple[str, str]] = []
    bullets: list[str] = []
    for line in doc.splitlines():
        if line.startswith("- "):
            bullets.append(line[2:])
        elif line.startswith("  ") and line.strip() and bullets:
            bullets[-1] += " " + line.strip()
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 3 and cells[0] not in {"verb", ""} and not set(cells[0]) <= {"-"}:
                entries.append((cells[0], cells[1]))
    for bullet in bullets:
        head = bullet.split(" — ", 1)[0]
        verbs, _, resources = head.partition(":")
        entries.append((verbs, resources))
    return entries


def documented_calls(doc: str) -> set[Grant]:
    """(group, resource, verb) for every API call kube.py's docstring lists."""
    calls: set[Grant] = set()
    for verbs_text, resources_text in documented_entries(doc):
        verbs = [v.strip() for v in verbs_text.split(",")]
        for item in resources_text.split(","):
            found = re.fullmatch(r"\s*([a-z/]+)(?:\s*\(([a-z0-9.]+)\))?\s*", item)
            assert found, f"cannot read resource {item!r} in kube.py's list of API calls"
            resource, group = found.group(1), found.group(2) or ""
            group = "" if group == "core" else group
            calls |= {(group, resource, verb) for verb in verbs}
    return calls


def grants(rules: Iterable[dict[str, Any]]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def operator_roles(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The (Cluster)Roles bound to the operator's ServiceAccount (not the aggregated user roles)."""
    bound = {
        (b["roleRef"]["kind"], b["roleRef"]["name"], b["metadata"].get("namespace"))
        for b in objects
        if b["kind"] in {"RoleBinding", "ClusterRoleBinding"}
    }
    return [
        r for r in objects
        if r["kind"] in {"Role", "ClusterRole"}
        and (r["kind"], r["metadata"]["name"], r["metadata"].get("namespace")) in bound
    ]  # fmt: skip


def test_the_table_in_kube_py_is_readable() -> None:
    calls = documented_calls(kube.__doc__ or "")
    assert ("modeldeploy.io", "modeldeployments/status", "patch") in calls
    assert ("modeldeploy.io", "modelcaches", "watch") in calls
    assert ("", "pods/log", "get") in calls
    assert len(calls) >= 20


def test_cluster_mode_grants_exactly_the_documented_calls(helm_bin: Path) -> None:
    objects = rendering.render(helm_bin)
    roles = operator_roles(objects)
    assert [r["kind"] for r in roles] == ["ClusterRole"]
    granted = grants(roles[0]["rules"])
    wanted = documented_calls(kube.__doc__ or "") - set(NOT_GRANTED)
    assert wanted - granted == set(), "the operator would be forbidden these calls"
    assert granted - wanted == set(EXTRA_GRANTS), "rights the operator never uses"


def test_namespaced_mode_keeps_namespaced_rights_in_the_watched_namespaces(helm_bin: Path) -> None:
    objects = rendering.render(helm_bin, sets=["watchNamespaces={models,research}"])
    roles = operator_roles(objects)
    cluster_role = rendering.one(roles, "ClusterRole")
    assert {(g, r) for g, r, _ in grants(cluster_role["rules"])} == CLUSTER_SCOPED
    namespaced = rendering.of_kind(roles, "Role")
    assert sorted(r["metadata"]["namespace"] for r in namespaced) == ["models", "research"]
    wanted = documented_calls(kube.__doc__ or "")
    for role in namespaced:
        granted = grants(role["rules"]) | grants(cluster_role["rules"])
        assert wanted - granted == set()
        assert ("", "secrets", "get") in grants(role["rules"])


@pytest.mark.parametrize("sets", [[], ["watchNamespaces={a,b}"], ["rbac.serviceMonitors=false"]])
def test_no_wildcards_and_no_escalation_verbs(helm_bin: Path, sets: list[str]) -> None:
    objects = rendering.render(helm_bin, sets=sets)
    for role in rendering.of_kind(objects, "Role") + rendering.of_kind(objects, "ClusterRole"):
        for group, resource, verb in grants(role["rules"]):
            assert "*" not in (group, resource, verb), role["metadata"]["name"]
            assert verb not in {"escalate", "bind", "impersonate"}, role["metadata"]["name"]


def test_service_monitor_rights_follow_the_value(helm_bin: Path) -> None:
    monitors = ("monitoring.coreos.com", "servicemonitors")
    with_them = grants(operator_roles(rendering.render(helm_bin))[0]["rules"])
    without = grants(
        operator_roles(rendering.render(helm_bin, sets=["rbac.serviceMonitors=false"]))[0]["rules"]
    )
    assert any((g, r) == monitors for g, r, _ in with_them)
    assert not any((g, r) == monitors for g, r, _ in without)


def test_bindings_name_the_service_account_the_operator_runs_as(helm_bin: Path) -> None:
    objects = rendering.render(helm_bin, sets=["watchNamespaces={models}"])
    account = rendering.one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    assert rendering.one(objects, "ServiceAccount")["metadata"]["name"] == account
    for binding in rendering.of_kind(objects, "RoleBinding") + rendering.of_kind(
        objects, "ClusterRoleBinding"
    ):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": rendering.RELEASE_NAMESPACE}
        ]


def test_rbac_create_false_renders_no_rbac(helm_bin: Path) -> None:
    objects = rendering.render(helm_bin, sets=["rbac.create=false"])
    kinds = {o["kind"] for o in objects}
    assert kinds.isdisjoint({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


def test_users_with_edit_can_scale_but_not_write_status(helm_bin: Path) -> None:
    objects = rendering.render(helm_bin)
    (edit,) = [
        r
        for r in rendering.of_kind(objects, "ClusterRole")
        if r["metadata"]["name"].endswith("-edit")
    ]
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    granted = grants(edit["rules"])
    assert ("modeldeploy.io", "modeldeployments/scale", "update") in granted
    assert not any(
        r == "modeldeployments/status" and v in {"update", "patch"} for _, r, v in granted
    )


def test_the_model_cache_and_its_jobs_are_covered(helm_bin: Path) -> None:
    """The second kind: watched, its status written, its volume, Jobs and their logs."""
    granted = grants(operator_roles(rendering.render(helm_bin))[0]["rules"])
    for call in [
        ("modeldeploy.io", "modelcaches", "list"),
        ("modeldeploy.io", "modelcaches", "watch"),
        ("modeldeploy.io", "modelcaches/status", "patch"),
        ("batch", "jobs", "create"),
        ("batch", "jobs", "delete"),
        ("", "persistentvolumeclaims", "create"),
        ("", "pods/log", "get"),
    ]:
        assert call in granted, call
    # What it never does: write the spec of a ModelCache, delete one, or its volume.
    for call in [
        ("modeldeploy.io", "modelcaches", "update"),
        ("modeldeploy.io", "modelcaches", "delete"),
        ("", "persistentvolumeclaims", "delete"),
    ]:
        assert call not in granted, call


def test_users_with_edit_manage_model_caches_and_viewers_see_them(helm_bin: Path) -> None:
    roles = {r["metadata"]["name"].rsplit("-", 1)[-1]: grants(r["rules"])
             for r in rendering.of_kind(rendering.render(helm_bin), "ClusterRole")}  # fmt: skip
    assert ("modeldeploy.io", "modelcaches", "create") in roles["edit"]
    assert ("modeldeploy.io", "modelcaches/status", "patch") not in roles["edit"]
    assert ("modeldeploy.io", "modelcaches", "list") in roles["view"]
    assert not any(v not in {"get", "list", "watch"} for _, _, v in roles["view"])
