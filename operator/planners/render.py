"""What `modeldeploy render` prints: the same plan the operator makes, without the network.

Differences from a live reconcile, each stated in the output's comments: the revision is
not resolved (a 40-hex revision is used as the commit; anything else stays as given and
revision labels read `unresolved`), the fetch Job and the Deployment are both shown (the
operator applies the Deployment only once the Job succeeded), the owner uid is a
placeholder, and the GPU preflight uses only the nodes given (no size estimate).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modeldeploy.operator.api.validation import parse_model_deployment
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import naming, placement, rollout

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]
    notes: list[str]


def render(
    obj: Mapping[str, Any],
    *,
    nodes: Sequence[Mapping[str, Any]] | None = None,
    settings: Settings | None = None,
    placeholder_uid: str,
) -> Rendered:
    """The objects the operator would apply for the ModelDeployment `obj` (a dict)."""
    resource = parse_model_deployment(obj)
    spec, settings = resource.spec, settings or Settings()
    metadata = resource.metadata
    names = naming.Names(name=metadata["name"], namespace=metadata.get("namespace") or "default")
    revision = spec.model.revision
    commit = revision if _COMMIT.match(revision) else None
    notes = [
        f"Rendered by `modeldeploy render` for {names.namespace}/{names.name} "
        "(no network, no cluster)."
    ]
    if commit is None:
        notes.append(
            f"Revision {revision!r} is not resolved here (the operator first resolves it to "
            f"a commit): labels read {naming.UNRESOLVED_REVISION!r} and paths use {revision!r}."
        )
    if spec.cache is not None and spec.cache.name is not None:
        notes.append(
            f"The model comes from ModelCache {spec.cache.name}: the operator applies the "
            "Deployment only once that cache holds the model Verified (its fetch Job is the "
            "cache's, not shown here)."
        )
    elif spec.cache is not None:
        notes.append("The operator applies the Deployment only after the fetch Job has succeeded.")
    fit = None
    if nodes is not None and spec.gpu.count > 0:
        fit = placement.preflight(nodes, placement.need_of(spec, estimated_bytes=None))
        notes.append(("Preflight: " if fit.fits else "Preflight: NoFittingGPUNode: ") + fit.message)
    if spec.fallbacks:
        listed = ", ".join(f"[{i}] {m.repo}" for i, m in enumerate([spec.model, *spec.fallbacks]))
        notes.append(
            f"Candidates, most preferred first: {listed}. Rendered: [0] {spec.model.repo} "
            "(every candidate asks for the same GPUs, and sizes need the hub); the operator "
            "serves the first that resolves, fits and loads (status.activeModel)."
        )
    uid = str(metadata.get("uid") or placeholder_uid)
    if uid == placeholder_uid:
        notes.append(f"ownerReferences carry the placeholder uid {placeholder_uid}.")
    ctx = rollout.Context(
        names=names, uid=uid, settings=settings, commit=commit, fit=fit, render=True
    )
    return Rendered(rollout.plan(spec, ctx).objects, notes)
