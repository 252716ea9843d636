"""A ModelDeployment on a ModelCache (`spec.cache.name`): what it asks of the cache, and
what the cache's status lets it do.

* It wants the directory of its resolved commit (resolved with its own token: nobody gets
  a model through someone else's credentials) and marks as in use the directories it
  mounts or is about to mount — before the Deployment that mounts them is applied.
* It mounts a directory only when the cache's status says Verified and no clean-up Job
  that might remove it is running; its download progress is the shared fetch Job's.
* A Corrupted directory keeps the replicas that serve it (their weights are in memory)
  but is never a reason to move to it; the condition says which files are bad.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modeldeploy.operator.api.spec import ModelDeploymentSpec, ModelSource
from modeldeploy.operator.api.status import CachedModelState, SharedCacheStatus
from modeldeploy.operator.planners import naming
from modeldeploy.operator.planners.cache import Want, model_directory
from modeldeploy.operator.planners.observed import FetchView


@dataclass(frozen=True)
class Use:
    wants: tuple[Want, ...]
    in_use: frozenset[str]
    fetched: frozenset[str]
    """Commits whose directory is Verified in the cache (and may be mounted now)."""
    fetch: FetchView | None
    status: SharedCacheStatus
    target_directory: str | None
    serving_directory: str | None
    missing: bool = False
    """The ModelCache does not exist (in this namespace)."""


def plan_use(
    spec: ModelDeploymentSpec,
    *,
    deployment: str,
    cache: Mapping[str, Any] | None,
    commit: str | None,
    deployed_commit: str | None,
    previous_serving: str | None,
    pod_revisions: set[str],
    may_mount: Callable[[str], bool],
    bytes_needed: int | None = None,
    serving_model: ModelSource | None = None,
) -> Use:
    """`serving_model`: the candidate model the replicas serve when it is not spec.model
    (a fallback being switched from or to): its directory is in use as well."""
    assert spec.cache is not None and spec.cache.name is not None
    name = spec.cache.name
    served = serving_model or spec.model
    target = model_directory(spec.model, commit) if commit else None
    serving_commit = deployed_commit or previous_serving
    serving = model_directory(served, serving_commit) if serving_commit else None
    in_use = {d for d in (target, serving) if d}
    if previous_serving and naming.short_sha(previous_serving) in pod_revisions:
        in_use.add(model_directory(served, previous_serving))
    wants: tuple[Want, ...] = ()
    if target is not None and commit is not None:
        wants = (
            Want(
                target,
                spec.model,
                commit,
                f"mdep/{deployment}",
                suspended=spec.suspend,
                bytes_needed=bytes_needed,
            ),
        )
    if cache is None:
        return Use(
            wants=wants,
            in_use=frozenset(in_use),
            fetched=frozenset(),
            fetch=None,
            status=SharedCacheStatus(
                name=name,
                directory=target,
                message=f"ModelCache {name} does not exist in this namespace",
            ),
            target_directory=target,
            serving_directory=serving,
            missing=True,
        )
    models = {m.get("name"): m for m in (cache.get("status") or {}).get("models") or []}
    pending = {p.get("name"): p for p in (cache.get("status") or {}).get("pending") or []}
    held = models.get(target) if target else None
    if held is None and target in pending:
        waiting = pending[target]
        held = {"name": target, "state": "Incomplete", "message": f"{waiting.get('reason')}: "
                f"{waiting.get('message')}"}  # fmt: skip
    state = _state(held)
    fetched = set()
    if state is CachedModelState.VERIFIED and commit and may_mount(f"{spec.model.repo}@{commit}"):
        fetched.add(commit)
    if deployed_commit and _state(models.get(serving or "")) in _KEEPS_SERVING:
        fetched.add(deployed_commit)
    message = _message(name, held, state)
    return Use(
        wants=wants,
        in_use=frozenset(in_use),
        fetched=frozenset(fetched),
        fetch=_fetch_view(name, commit, held, state),
        status=SharedCacheStatus(name=name, directory=target, state=state, message=message),
        target_directory=target,
        serving_directory=serving,
    )


_KEEPS_SERVING = {
    CachedModelState.VERIFIED,
    CachedModelState.CORRUPTED,
    CachedModelState.REPAIRING,
}
"""States in which replicas already serving a directory keep serving it (weights in memory)."""


def _state(model: Mapping[str, Any] | None) -> CachedModelState | None:
    if model is None:
        return None
    try:
        return CachedModelState(str(model.get("state")))
    except ValueError:
        return None


def _message(name: str, model: Mapping[str, Any] | None, state: CachedModelState | None) -> str:
    if model is None:
        return f"ModelCache {name} does not hold this model yet"
    bad = model.get("badFiles") or []
    detail = model.get("message")
    if state is CachedModelState.CORRUPTED:
        return f"bad files: {', '.join(bad) or 'unknown'}" + (f" ({detail})" if detail else "")
    return str(detail or f"{state.value if state else 'unknown'} in ModelCache {name}")


def _fetch_view(
    name: str,
    commit: str | None,
    model: Mapping[str, Any] | None,
    state: CachedModelState | None,
) -> FetchView | None:
    """The shared fetch as the status planner reads a fetch Job (name: the cache)."""
    if commit is None:
        return None
    label = f"modelcache/{name}"
    if state in (CachedModelState.VERIFIED, CachedModelState.CORRUPTED, CachedModelState.REPAIRING):
        verified_at = (model or {}).get("verifiedAt")
        return FetchView(
            name=label,
            commit=commit,
            succeeded=True,
            completed_at=verified_at if isinstance(verified_at, str) else None,
        )
    if state is CachedModelState.INCOMPLETE and model and model.get("message"):
        message = str(model.get("message"))
        reason, _, text = message.partition(": ")
        error = {"event": "error", "reason": reason or "FetchFailed", "message": text}
        return FetchView(name=label, commit=commit, failed=True, progress=error)
    progress: dict[str, Any] | None = None
    if model is not None:
        progress = {
            "event": "progress",
            "phase": "downloading",
            "bytesDone": model.get("bytesDone") or 0,
            "bytesTotal": model.get("bytesTotal") or 0,
        }
    return FetchView(name=label, commit=commit, active=True, progress=progress)
