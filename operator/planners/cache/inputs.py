"""What the ModelCache planner reads and returns, and what its steps share: the label,
annotations and task names its objects carry, the sharing key (`model_directory`), the
inputs the reconciler gathers (`Want`, `Use`, `JobView`, `CacheInputs`), the `CachePlan`
it returns, and the small time and size helpers every step uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modeldeploy.hub import sharing
from modeldeploy.operator.api import cache as api
from modeldeploy.operator.api.spec import ModelSource
from modeldeploy.operator.planners import conditions, naming

LABEL_CACHE = "modeldeploy.io/cache"
ANNOTATION_MODEL_DIR = "modeldeploy.io/model-dir"
ANNOTATION_TASK = "modeldeploy.io/task"
TASK_FETCH = "fetch"
TASK_VERIFY = "verify"
TASK_GC = "gc"
TASK_REPAIR = "repair"
MAINTENANCE_TTL_SECONDS = 3600
MIN_CLEANUP_SECONDS = 60.0


def claim_name(cache: str) -> str:
    """The PersistentVolumeClaim of the ModelCache `cache`."""
    return f"mc-{cache}"


COMMIT = sharing.COMMIT


def model_directory(model: ModelSource, commit: str) -> str:
    """The directory (under the cache root) that holds `model` at `commit`: the sharing key."""
    return sharing.model_dir_name(model.repo, commit, selection(model))


def selection(model: ModelSource) -> sharing.Selection:
    return sharing.Selection.of(
        include=model.include, allow_pickle=model.allow_pickle, sha256=model.sha256
    )


def cache_labels(cache: str, *, component: str) -> dict[str, str]:
    return {
        naming.LABEL_NAME: naming.MANAGED_BY,
        naming.LABEL_INSTANCE: cache,
        naming.LABEL_MANAGED_BY: naming.MANAGED_BY,
        LABEL_CACHE: cache,
        naming.LABEL_COMPONENT: component,
    }


def owner_reference(*, name: str, uid: str) -> dict[str, object]:
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


@dataclass(frozen=True)
class Want:
    """One model directory that someone (a ModelDeployment or the preload list) wants held."""

    directory: str
    model: ModelSource
    commit: str
    requester: str
    """`mdep/<name>` or `preload`."""
    suspended: bool = False
    bytes_needed: int | None = None
    """At least this many bytes (the checkpoint's weights, from their headers), if known."""


@dataclass(frozen=True)
class Use:
    """What the ModelDeployments using this cache report: directories they mount or are
    about to mount, and the requests their runtimes served from each."""

    in_use: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """directory → names of the deployments that serve it or are about to."""
    requests: Mapping[str, int] = field(default_factory=dict)
    """directory → requests served from it since the last plan (added to its total)."""
    last_used: Mapping[str, str] = field(default_factory=dict)
    complete: bool = True
    """Every deployment that names this cache has reported since the operator started: only
    then may anything be removed (an unreported deployment may be serving anything)."""


@dataclass(frozen=True)
class JobView:
    """One Job of the ModelCache (fetch, verify or gc) and, once it ended, what it printed."""

    name: str
    task: str
    directory: str | None = None
    commit: str | None = None
    active: bool = False
    succeeded: bool = False
    failed: bool = False
    suspended: bool = False
    started_at: str | None = None
    completed_at: str | None = None
    failure_message: str | None = None
    last_line: Mapping[str, Any] | None = None

    @classmethod
    def from_job(cls, job: Mapping[str, Any], *, last_line: Mapping[str, Any] | None) -> JobView:
        metadata, status = job.get("metadata", {}), job.get("status", {})
        annotations = metadata.get("annotations") or {}
        done = {
            c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
        }
        failed = done.get("Failed")
        return cls(
            name=metadata.get("name", "?"),
            task=annotations.get(ANNOTATION_TASK, TASK_FETCH),
            directory=annotations.get(ANNOTATION_MODEL_DIR),
            commit=annotations.get(naming.ANNOTATION_COMMIT),
            active=bool(status.get("active")),
            succeeded="Complete" in done or bool(status.get("succeeded")),
            failed=failed is not None,
            suspended="Suspended" in done,
            started_at=status.get("startTime"),
            completed_at=status.get("completionTime"),
            failure_message=(failed or {}).get("message"),
            last_line=last_line,
        )

    @property
    def finished(self) -> bool:
        return self.succeeded or self.failed


@dataclass(frozen=True)
class CacheInputs:
    name: str
    namespace: str
    uid: str
    generation: int
    created: str
    spec: api.ModelCacheSpec
    previous: api.ModelCacheStatus
    wants: Sequence[Want]
    use: Use
    jobs: Sequence[JobView]
    claim: Mapping[str, Any] | None
    image: str
    endpoint_for: Any
    """Settings.endpoint_for: the hub endpoint a model source uses."""
    storage_class: str | None
    inventory_seconds: float
    now: datetime
    reported: frozenset[str] = frozenset()
    """Finished Jobs whose Events were posted already."""
    preload_errors: Sequence[str] = ()
    """Preloads whose revision could not be resolved, each with why."""


@dataclass(frozen=True)
class CachePlan:
    objects: list[dict[str, Any]]
    delete_jobs: list[str]
    status: api.ModelCacheStatus
    events: list[conditions.EventNote]


def merged_wants(wants: Sequence[Want]) -> dict[str, Want]:
    """One want per directory; it is suspended only when every requester of it is."""
    merged: dict[str, Want] = {}
    for want in sorted(wants, key=lambda w: (w.directory, w.requester)):
        first = merged.get(want.directory)
        if first is None:
            merged[want.directory] = want
        elif first.suspended and not want.suspended:
            merged[want.directory] = Want(
                first.directory, first.model, first.commit, first.requester, suspended=False
            )
    return merged


def claim_capacity(inp: CacheInputs) -> int | None:
    raw = ((inp.claim or {}).get("status", {}).get("capacity") or {}).get("storage")
    if raw is None:
        return None
    from modeldeploy.operator.api.types import parse_quantity

    return int(parse_quantity(str(raw)))


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ts(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def slot(when: datetime) -> str:
    return str(int(when.timestamp()))


def latest(a: str | None, b: str | None) -> str | None:
    values = [v for v in (a, b) if v]
    return max(values) if values else None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
