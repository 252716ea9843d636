"""Server-side apply of the planned children, only when needed, never stopping at a refusal.

A child is applied again only when its desired form changed, or when someone else changed
or deleted it (its generation/resourceVersion moved, our labels or annotations differ, it is
gone from the index): so edits are reverted while an idle fleet makes no API call.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from modeldeploy.operator import health, indexes, kube

log = logging.getLogger(__name__)

KIND_INDEX = {
    "Deployment": "deployments",
    "Job": "jobs",
    "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}

Ident = tuple[str, str, str]
"""(namespace, name, kind) of one child."""


class Applier:
    """Applies children and remembers what the API server held after each apply."""

    def __init__(self, *, client: kube.Kube) -> None:
        self._kube = client
        self._applied: dict[Ident, tuple[str, kube.Applied]] = {}

    def forget(self, namespace: str, *, owned: Callable[[str], bool]) -> None:
        """Drop the markers of children `owned(name)` says belong to a deleted object."""
        for ident in [i for i in self._applied if i[0] == namespace and owned(i[1])]:
            del self._applied[ident]

    def forget_one(self, ident: Ident) -> None:
        self._applied.pop(ident, None)

    async def apply(
        self,
        objects: list[dict[str, Any]],
        view: indexes.IndexView,
        key: indexes.Key,
        *,
        changed: list[str] | None = None,
    ) -> list[str]:
        """Apply what changed; the API's refusals, one line per object (never raised).
        `changed` gets `Kind name` of each object the API server changed (not one that an
        apply after a restart found as it was: its resourceVersion did not move).

        A refused object (an immutable field, a missing ServiceMonitor CRD, RBAC) must not
        stop the reconcile: the others are still applied and the status says what failed.
        Transient errors (conflicts, throttling, an unreachable API server) are raised, so
        the worker retries after a back-off.
        """
        refused: list[str] = []
        for obj in objects:
            ident = (obj["metadata"]["namespace"], obj["metadata"]["name"], obj["kind"])
            digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
            if not self._needs_apply(ident, digest, obj, view, key):
                continue
            try:
                applied = await self._kube.apply(obj)
            except kube.KubeError as exc:
                if exc.transient:
                    raise
                log.warning("%s/%s: %s", key[0], key[1], exc)
                refused.append(str(exc))
                continue
            before = self._version(ident, view, key)
            self._applied[ident] = (digest, applied)
            health.APPLIES.labels(kind=obj["kind"]).inc()
            if changed is not None and before != applied.resource_version:
                changed.append(f"{obj['kind']} {ident[1]}")
        return refused

    def _version(self, ident: Ident, view: indexes.IndexView, key: indexes.Key) -> str | None:
        """The resourceVersion the object had before this apply, as far as it is known."""
        index = KIND_INDEX.get(ident[2])
        if index is not None:
            found = [o for o in view.children(index, key) if o["metadata"].get("name") == ident[1]]
            return found[0]["metadata"].get("resourceVersion") if found else None
        last = self._applied.get(ident)
        return last[1].resource_version if last else None

    def _needs_apply(
        self,
        ident: tuple[str, str, str],
        digest: str,
        obj: Mapping[str, Any],
        view: indexes.IndexView,
        key: indexes.Key,
    ) -> bool:
        """Apply when the desired form changed, or the object was deleted or edited by others."""
        kind, obj_meta = obj["kind"], obj["metadata"]
        last = self._applied.get(ident)
        if last is None or last[0] != digest:
            return True
        index = KIND_INDEX.get(kind)
        if index is None:
            return False
        current = next(
            (o for o in view.children(index, key) if o["metadata"].get("name") == ident[1]), None
        )
        if current is None:
            return True  # deleted by someone: restore it
        meta, applied = current["metadata"], last[1]
        if not _contains(meta.get("labels"), obj_meta.get("labels")) or not _contains(
            meta.get("annotations"), obj_meta.get("annotations")
        ):
            return True  # someone changed our labels or annotations
        if applied.generation is not None and meta.get("generation") is not None:
            return bool(meta["generation"] != applied.generation)
        return (
            bool(meta.get("resourceVersion") != applied.resource_version)
            and kind != "PersistentVolumeClaim"
        )


def _contains(observed: Mapping[str, Any] | None, desired: Mapping[str, Any] | None) -> bool:
    observed = observed or {}
    return all(observed.get(key) == value for key, value in (desired or {}).items())
