"""What the operator remembers of its children and of the nodes, fed by kopf's watches.

kopf keeps these indexes current from watch streams and fills them before any handler
runs, so a restarted operator sees every existing child before it reconciles (no
duplicates) and a reconcile reads its observed state from memory, not from the API.
Entries are trimmed copies: only the fields the planners read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modeldeploy.operator.planners import naming

Key = tuple[str, str]
"""(namespace, ModelDeployment name)."""

KINDS = ("pods", "deployments", "jobs", "services", "persistentvolumeclaims")
CACHE_KINDS = ("pods", "jobs", "persistentvolumeclaims")
"""Children of a ModelCache: its claim, its Jobs and their pods (for their logs)."""
MANAGED = {naming.LABEL_MANAGED_BY: naming.MANAGED_BY}
LABEL_CACHE = "modeldeploy.io/cache"
OWN_ANNOTATION_PREFIX = "modeldeploy.io/"
"""The annotations the operator writes on its children (`naming.ANNOTATION_COMMIT`, ...)."""


def owner_key(body: Mapping[str, Any]) -> Key | None:
    """The ModelDeployment a child belongs to (its label), or None for strangers."""
    metadata = body.get("metadata") or {}
    owner = (metadata.get("labels") or {}).get(naming.LABEL_DEPLOYMENT)
    namespace = metadata.get("namespace")
    return (namespace, owner) if owner and namespace else None


def cache_key(body: Mapping[str, Any]) -> Key | None:
    """The ModelCache a child belongs to (its label), or None."""
    metadata = body.get("metadata") or {}
    owner = (metadata.get("labels") or {}).get(LABEL_CACHE)
    namespace = metadata.get("namespace")
    return (namespace, owner) if owner and namespace else None


def cache_child_entry(kind: str, body: Mapping[str, Any]) -> dict[Key, dict[str, Any]]:
    """The index entry of a ModelCache's child: its Jobs keep their arguments (a clean-up
    Job's `--keep` list is what deployments may mount while it runs) and `suspend`."""
    key = cache_key(body)
    if key is None:
        return {}
    entry: dict[str, Any] = {"metadata": _metadata(body), "status": dict(body.get("status") or {})}
    spec = body.get("spec") or {}
    if kind == "jobs":
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        entry["spec"] = {
            "suspend": bool(spec.get("suspend")),
            "template": {"spec": {"containers": [{"args": c.get("args")} for c in containers]}},
        }
    elif kind == "pods":
        entry["spec"] = {"nodeName": spec.get("nodeName")}
    return {key: entry}


def cache_user_entry(body: Mapping[str, Any]) -> dict[Key, str]:
    """A ModelDeployment that names a ModelCache: {(namespace, cache): its name}."""
    metadata = body.get("metadata") or {}
    cache = ((body.get("spec") or {}).get("cache") or {}).get("name")
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not cache or not namespace or not name or metadata.get("deletionTimestamp"):
        return {}
    return {(namespace, cache): name}


def primary_entry(body: Mapping[str, Any]) -> dict[Key, dict[str, Any]]:
    """A ModelCache as ModelDeployments read it: its spec and status."""
    metadata = body.get("metadata") or {}
    key = (metadata.get("namespace"), metadata.get("name"))
    return {
        key: {  # type: ignore[dict-item]
            "metadata": _metadata(body),
            "spec": dict(body.get("spec") or {}),
            "status": dict(body.get("status") or {}),
        }
    }


def _metadata(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    keep = (
        "name",
        "namespace",
        "labels",
        "annotations",
        "generation",
        "resourceVersion",
        "deletionTimestamp",
        "uid",
    )
    # Shallow copies: kopf hands every event a fresh raw object and never mutates it later.
    return {k: meta[k] for k in keep if k in meta}


def child_entry(kind: str, body: Mapping[str, Any]) -> dict[Key, dict[str, Any]]:
    """The index entry of one child: {owner key: trimmed object}."""
    key = owner_key(body)
    if key is None:
        return {}
    entry: dict[str, Any] = {
        "metadata": _metadata(body),
        "status": dict(body.get("status") or {}),
    }
    if kind == "pods":
        spec = body.get("spec") or {}
        entry["spec"] = {"nodeName": spec.get("nodeName"), "containers": _memory_limits(spec)}
    elif kind == "deployments":
        entry["spec"] = {"replicas": (body.get("spec") or {}).get("replicas")}
    return {key: entry}


def _memory_limits(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each container's memory limit, the one resource a pod's status does not tell (an
    OOMKilled replica says which limit it hit)."""
    return [
        {"name": c.get("name"), "resources": {"limits": {"memory": limit}}}
        for c in spec.get("containers") or []
        if (limit := ((c.get("resources") or {}).get("limits") or {}).get("memory"))
    ]


def node_entry(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every node under one key: name, labels, schedulability and allocatable resources."""
    metadata, status = body.get("metadata") or {}, body.get("status") or {}
    return {
        "nodes": {
            "metadata": {
                "name": metadata.get("name"),
                "labels": dict(metadata.get("labels") or {}),
            },
            "spec": {"unschedulable": bool((body.get("spec") or {}).get("unschedulable"))},
            "status": {
                "allocatable": dict(status.get("allocatable") or status.get("capacity") or {})
            },
        }
    }


class IndexView:
    """Read access to kopf's indexes (mappings of key → collection of entries)."""

    def __init__(self, indexes: Mapping[str, Mapping[Any, Iterable[dict[str, Any]]]]) -> None:
        self._indexes = indexes

    def children(self, kind: str, key: Key) -> list[dict[str, Any]]:
        index = self._indexes.get(kind)
        if index is None or key not in index:
            return []
        return list(index[key])

    def for_caches(self) -> IndexView:
        """The same view over the ModelCaches' children (indexes `mc_<kind>`)."""
        return IndexView({kind: self._indexes.get(f"mc_{kind}", {}) for kind in CACHE_KINDS})

    def model_cache(self, key: Key) -> dict[str, Any] | None:
        """The ModelCache `key` (namespace, name) as last watched, or None."""
        index = self._indexes.get("modelcaches")
        if index is None or key not in index:
            return None
        found = list(index[key])
        return found[0] if found else None

    def cache_users(self, cache: Key) -> list[str]:
        """Names of the ModelDeployments whose spec.cache.name is `cache`."""
        index = self._indexes.get("cache_users")
        if index is None or cache not in index:
            return []
        return sorted(str(name) for name in index[cache])

    def nodes(self) -> list[dict[str, Any]]:
        index = self._indexes.get("nodes")
        if index is None or "nodes" not in index:
            return []
        return list(index["nodes"])


def fingerprint(kind: str, body: Mapping[str, Any]) -> str:
    """What must change for an event to matter: the resourceVersion, except for Deployments.

    A Deployment's status churns with its pods (whose own events already wake the owner);
    the operator reads only its generation (spec edits), labels and its own annotations
    (the deployment controller adds `deployment.kubernetes.io/revision` to each new one: at
    2,000 Deployments that alone woke the whole fleet once more while it settled).
    """
    metadata = body.get("metadata") or {}
    if kind != "deployments":
        return str(metadata.get("resourceVersion") or "")
    ours = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if k.startswith(OWN_ANNOTATION_PREFIX)
    }
    return repr((metadata.get("generation"), metadata.get("labels"), sorted(ours.items())))


class SeenVersions:
    """The resourceVersion last seen per object uid, to tell real changes from re-lists.

    A watch that reconnects delivers every object again, unchanged; waking a worker for
    each would make an idle operator of 500 ModelDeployments busy every few minutes.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def changed(self, event_type: str | None, body: Mapping[str, Any], *, kind: str = "") -> bool:
        metadata = body.get("metadata") or {}
        uid, version = metadata.get("uid"), fingerprint(kind, body)
        if not uid or not version:
            return True
        if event_type == "DELETED":
            self._seen.pop(uid, None)
            return True
        if self._seen.get(uid) == version:
            return False
        self._seen[uid] = version
        return True
