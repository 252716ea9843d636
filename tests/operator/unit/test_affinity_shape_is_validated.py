"""A badly shaped placement.affinity is an invalid spec with a field path, not a crash."""

from __future__ import annotations

import pytest

from modeldeploy.operator.api.validation import validate_model_deployment
from modeldeploy.operator.planners import placement
from tests.operator.unit.builders import spec

NODE = "spec.placement.affinity.nodeAffinity"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _problems(affinity: object) -> list[str]:
    obj = {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "tiny", "namespace": "ml"},
        "spec": {"model": {"repo": "acme/tiny"}, "placement": {"affinity": affinity}},
    }
    return [p.path for p in validate_model_deployment(obj)]


@pytest.mark.parametrize(
    ("affinity", "path"),
    [
        ({"nodeAffinity": "x"}, NODE),
        ({"nodeAffinity": {REQUIRED: []}}, f"{NODE}.{REQUIRED}"),
        ({"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": []}}}, f"{NODE}.{REQUIRED}"),
        (
            {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": ["a"]}}},
            f"{NODE}.{REQUIRED}.nodeSelectorTerms[0]",
        ),
        (
            {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [{"matchExpressions": {}}]}}},
            f"{NODE}.{REQUIRED}.nodeSelectorTerms[0].matchExpressions",
        ),
        ({"nodeAffinity": {PREFERRED: {}}}, f"{NODE}.{PREFERRED}"),
        ({"nodeAffinity": {PREFERRED: [{"weight": 1}]}}, f"{NODE}.{PREFERRED}[0]"),
        (
            {"nodeAffinity": {PREFERRED: [{"weight": 0, "preference": {}}]}},
            f"{NODE}.{PREFERRED}[0].weight",
        ),
        ({"podAntiAffinity": []}, "spec.placement.affinity.podAntiAffinity"),
    ],
)
def test_bad_affinity_names_the_field(affinity: object, path: str) -> None:
    assert path in _problems(affinity)


def test_every_valid_affinity_merges_without_error() -> None:
    good = {
        "nodeAffinity": {
            REQUIRED: {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]
            },
            PREFERRED: [{"weight": 5, "preference": {"matchFields": []}}],
        },
        "podAntiAffinity": {},
    }
    assert _problems(good) == []
    placed = placement.pod_placement(
        spec(
            gpu={"count": 1, "products": ["A", "B"], "minMemory": "1Gi"},
            placement={"affinity": good},
        )
    )
    terms = placed["affinity"]["nodeAffinity"][REQUIRED]["nodeSelectorTerms"]
    assert len(terms[0]["matchExpressions"]) == 3
