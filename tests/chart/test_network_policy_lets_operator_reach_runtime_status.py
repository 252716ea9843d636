"""With networkPolicy.enabled the operator can still reach what it needs, and nothing else.

The operator polls each runtime pod's GET /status on the runtime's HTTP port; the policy's
selector for runtime pods must match the labels the operator really puts on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeldeploy.operator.api import spec as api_spec
from modeldeploy.operator.planners import naming
from tests.chart import rendering


def operator_policy(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (policy,) = [
        p for p in rendering.of_kind(objects, "NetworkPolicy")
        if p["metadata"]["namespace"] == rendering.RELEASE_NAMESPACE
    ]  # fmt: skip
    return policy


def runtime_pod_labels() -> dict[str, str]:
    return naming.child_labels("tiny-chat", component=naming.COMPONENT_RUNTIME, commit="a" * 40)


def default_runtime_port() -> int:
    default = api_spec.RuntimeSpec.model_fields["port"].default
    assert isinstance(default, int)
    return default


def test_no_policy_unless_enabled(helm_bin: Path) -> None:
    assert rendering.of_kind(rendering.render(helm_bin), "NetworkPolicy") == []


def test_operator_may_reach_runtime_status_port_in_every_namespace(helm_bin: Path) -> None:
    policy = operator_policy(rendering.render(helm_bin, sets=["networkPolicy.enabled=true"]))
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    to_runtime = [
        rule for rule in policy["spec"]["egress"]
        if {"port": default_runtime_port(), "protocol": "TCP"} in rule.get("ports", [])
    ]  # fmt: skip
    assert len(to_runtime) == 1
    (peer,) = to_runtime[0]["to"]
    assert peer["namespaceSelector"] == {}
    assert peer["podSelector"]["matchLabels"].items() <= runtime_pod_labels().items()


def test_namespaced_mode_limits_runtime_egress_to_watched_namespaces(helm_bin: Path) -> None:
    objects = rendering.render(
        helm_bin, sets=["networkPolicy.enabled=true", "watchNamespaces={models,research}"]
    )
    rule = next(
        r for r in operator_policy(objects)["spec"]["egress"]
        if any(p["port"] == default_runtime_port() for p in r["ports"])
    )  # fmt: skip
    namespaces = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in rule["to"]
    ]
    assert namespaces == ["models", "research"]


def test_dns_and_api_server_egress_stay_open(helm_bin: Path) -> None:
    policy = operator_policy(rendering.render(helm_bin, sets=["networkPolicy.enabled=true"]))
    ports = {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP")} <= ports


def test_metrics_ingress_only_from_the_configured_peers(helm_bin: Path) -> None:
    objects = rendering.render(
        helm_bin, values_files=[rendering.CHART / "ci" / "all-options-values.yaml"]
    )
    policy = operator_policy(objects)
    (metrics_rule,) = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "metrics"]
    assert metrics_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_runtime_ingress_policies_admit_the_operator_pods(helm_bin: Path) -> None:
    objects = rendering.render(
        helm_bin,
        sets=[
            "networkPolicy.enabled=true",
            "networkPolicy.runtimeIngress=true",
            "watchNamespaces={models}",
        ],
    )
    deployment = rendering.one(objects, "Deployment")
    (runtime_policy,) = [
        p
        for p in rendering.of_kind(objects, "NetworkPolicy")
        if p["metadata"]["namespace"] == "models"
    ]
    assert (
        runtime_policy["spec"]["podSelector"]["matchLabels"].items() <= runtime_pod_labels().items()
    )
    (rule,) = runtime_policy["spec"]["ingress"]
    (peer,) = rule["from"]
    operator_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert peer["podSelector"]["matchLabels"].items() <= operator_labels.items()
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": rendering.RELEASE_NAMESPACE
    }
    assert rule["ports"] == [{"port": default_runtime_port(), "protocol": "TCP"}]
