"""kopf handlers: thin. They feed indexes and wake per-object workers; the reconciler decides.

Why `on.event` and workers rather than kopf's create/update handlers or daemons: the
reconcile is level-based (it looks at everything, every time), so the operator needs no
per-handler progress annotations and no finalizers (daemons and timers would force one on
every ModelDeployment; cache retention is done with owner references instead), and a
restarted operator simply reconciles whatever it finds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from modeldeploy.operator import health, indexes, kube
from modeldeploy.operator.api import cache as cache_api
from modeldeploy.operator.api import resource
from modeldeploy.operator.cache_book import CacheBook
from modeldeploy.operator.cache_reconciler import CacheReconciler
from modeldeploy.operator.config import Settings
from modeldeploy.operator.reconciler import Reconciler
from modeldeploy.operator.runtime_reports import RuntimeReporter
from modeldeploy.operator.workers import Workers

log = logging.getLogger(__name__)


class Operator:
    """The operator's moving parts, created at startup inside kopf's event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bodies: dict[indexes.Key, dict[str, Any]] = {}
        self.versions = indexes.SeenVersions()
        self.view = indexes.IndexView({})
        self.client: kube.Kube | None = None
        self.reporter: RuntimeReporter | None = None
        self.reconciler: Reconciler | None = None
        self.workers: Workers | None = None
        self.cache_bodies: dict[indexes.Key, dict[str, Any]] = {}
        self.cache_reconciler: CacheReconciler | None = None
        self.cache_workers: Workers | None = None
        self.book = CacheBook()
        self.nodes_seen: dict[str, str] = {}
        self._fresh: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.client = kube.Kube(field_manager=self.settings.field_manager)
        self.reporter = RuntimeReporter(self.settings)
        self.workers = Workers(self.reconcile)
        self.cache_workers = Workers(self.reconcile_cache)
        self.book.wake_cache = self._wake_cache
        self.book.wake_deployment = self.workers.wake_if_known
        self.reconciler = Reconciler(
            settings=self.settings, client=self.client, reporter=self.reporter, book=self.book
        )
        self.reconciler.hub.wake = self.workers.wake_if_known
        self._fresh = asyncio.create_task(self.reconciler.hub.keep_fresh(), name="re-resolve")
        self.cache_reconciler = CacheReconciler(
            settings=self.settings,
            client=self.client,
            hub=self.reconciler.hub,
            book=self.book,
            referencing=self.referencing,
        )

    def _wake_cache(self, key: indexes.Key) -> None:
        if self.cache_workers is not None and key in self.cache_bodies:
            self.cache_workers.notify(key)

    def referencing(self, cache: indexes.Key) -> list[str]:
        """Names of the ModelDeployments whose spec.cache.name is `cache`: from kopf's index,
        complete before any handler runs (so a restarted operator never takes a deployment
        it has not seen yet for one that does not exist)."""
        return self.view.cache_users(cache)

    async def reconcile(self, key: indexes.Key) -> float:
        body = self.bodies.get(key)
        if body is None or self.reconciler is None:
            return self.settings.resolve_seconds
        return await self.reconciler.reconcile(body, self.view)

    async def reconcile_cache(self, key: indexes.Key) -> float:
        body = self.cache_bodies.get(key)
        if body is None or self.cache_reconciler is None:
            return self.settings.resolve_seconds
        return await self.cache_reconciler.reconcile(body, self.view)

    def refresh_view(self, index_kwargs: dict[str, Any]) -> None:
        names = [f"md_{kind}" for kind in (*indexes.KINDS, "nodes")]
        names += [f"mc_{kind}" for kind in indexes.CACHE_KINDS]
        found = {name: index_kwargs[name] for name in names if name in index_kwargs}
        views = {name.removeprefix("md_"): value for name, value in found.items()}
        for name in ("modelcaches", "cache_users"):
            if f"md_{name}" in index_kwargs:
                views[name] = index_kwargs[f"md_{name}"]
        self.view = indexes.IndexView(views)

    async def on_cache(
        self, event_type: str | None, body: dict[str, Any], index_kwargs: dict[str, Any]
    ) -> None:
        assert self.cache_workers is not None and self.cache_reconciler is not None
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        self.refresh_view(index_kwargs)
        changed = self.versions.changed(event_type, body)
        appeared = key not in self.cache_bodies
        gone = event_type == "DELETED" or bool(body["metadata"].get("deletionTimestamp"))
        if gone:
            self.versions.changed("DELETED", body)
            self.cache_bodies.pop(key, None)
            await self.cache_workers.forget(key)
            self.cache_reconciler.forget(key)
        elif changed or appeared:
            self.cache_bodies[key] = body
            self.cache_workers.notify(key)
        # Status changes wake only the deployments they concern (the cache's reconcile does
        # that); a cache that appears or goes concerns every deployment that names it.
        if (appeared or gone) and self.workers is not None:
            for name in self.referencing(key):
                self.workers.wake_if_known((key[0], name))

    async def on_primary(
        self, event_type: str | None, body: dict[str, Any], index_kwargs: dict[str, Any]
    ) -> None:
        assert self.workers is not None and self.reconciler is not None
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        self.refresh_view(index_kwargs)
        changed = self.versions.changed(event_type, body)
        if event_type == "DELETED" or body["metadata"].get("deletionTimestamp"):
            self.versions.changed("DELETED", body)
            self.bodies.pop(key, None)
            await self.workers.forget(key)
            live = {b["metadata"]["uid"] for b in self.bodies.values()}
            self.reconciler.forget(key, live_uids=live)
            self.book.report(key, None)  # its use of a cache ends (a download is cancelled)
        elif changed or key not in self.bodies:
            self.bodies[key] = body
            self.workers.notify(key)
        health.WATCHED.set(len(self.workers))

    def on_node(self, event_type: str | None, body: dict[str, Any]) -> None:
        """A node that appears, goes or changes what placement reads of it (labels,
        schedulability, allocatable GPUs) wakes every deployment that asks for GPUs: one
        that found no fitting node may fit now. Heartbeats change nothing placement reads."""
        name = (body.get("metadata") or {}).get("name") or ""
        if event_type == "DELETED":
            changed = self.nodes_seen.pop(name, None) is not None
        else:
            seen = repr(indexes.node_entry(body))
            changed = self.nodes_seen.get(name) != seen
            self.nodes_seen[name] = seen
        if not changed or self.workers is None:
            return
        for key, md in self.bodies.items():
            if int(((md.get("spec") or {}).get("gpu") or {}).get("count") or 0) > 0:
                self.workers.wake_if_known(key)

    async def stop(self) -> None:
        if self._fresh is not None:
            self._fresh.cancel()
            await asyncio.gather(self._fresh, return_exceptions=True)
        if self.workers is not None:
            await self.workers.stop()
        if self.cache_workers is not None:
            await self.cache_workers.stop()
        if self.reporter is not None:
            await self.reporter.close()
        if self.client is not None:
            await self.client.close()


def register(registry: kopf.OperatorRegistry, settings: Settings) -> Operator:
    """Register every handler on `registry`; returns the operator state they share."""
    op = Operator(settings)
    _register_lifecycle(registry, op)
    _register_indexes(registry, op)

    @kopf.on.event(resource.GROUP, resource.VERSION, resource.PLURAL, registry=registry)
    async def modeldeployment_event(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
        health.EVENTS.labels(resource=resource.PLURAL).inc()
        await op.on_primary(type, _plain(body), kwargs)

    @kopf.on.event(resource.GROUP, resource.VERSION, cache_api.PLURAL, registry=registry)
    async def modelcache_event(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
        health.EVENTS.labels(resource=cache_api.PLURAL).inc()
        await op.on_cache(type, _plain(body), kwargs)

    return op


def _register_lifecycle(registry: kopf.OperatorRegistry, op: Operator) -> None:
    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        """kopf connects exactly as our lightkube client does (service account or KUBECONFIG)."""
        found = kube.credentials()
        return kopf.ConnectionInfo(
            server=found.server, ca_path=found.ca_path, ca_data=found.ca_data,
            insecure=found.insecure, certificate_path=found.certificate_path,
            certificate_data=found.certificate_data, private_key_path=found.private_key_path,
            private_key_data=found.private_key_data, token=found.token,
            default_namespace=found.default_namespace,
        )  # fmt: skip

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.standalone = True  # one replica (Recreate); see docs/operator.md
        settings.posting.enabled = True
        settings.posting.level = logging.WARNING
        # Long watches: every reconnect re-lists every object (and wakes nothing new,
        # see SeenVersions), so reconnecting often only costs CPU.
        settings.watching.server_timeout = 1800
        settings.watching.client_timeout = 1860
        op.start()

    @kopf.on.cleanup(registry=registry)
    async def shutdown(**_: Any) -> None:
        await op.stop()

    @kopf.on.probe(id="modeldeployments", registry=registry)
    async def watched(**_: Any) -> int:
        return len(op.workers) if op.workers is not None else 0


def _register_indexes(registry: kopf.OperatorRegistry, op: Operator) -> None:
    groups = {
        "pods": "v1",
        "services": "v1",
        "persistentvolumeclaims": "v1",
        "deployments": "apps/v1",
        "jobs": "batch/v1",
    }
    for kind, group_version in groups.items():
        _register_child(registry, op, kind, group_version)

    for kind in indexes.CACHE_KINDS:
        _register_cache_child(registry, kind, groups[kind])

    @kopf.index(
        resource.GROUP, resource.VERSION, cache_api.PLURAL, id="md_modelcaches", registry=registry
    )
    async def md_modelcaches(body: kopf.Body, **_: Any) -> dict[indexes.Key, dict[str, Any]]:
        return indexes.primary_entry(_plain(body))

    @kopf.index(
        resource.GROUP, resource.VERSION, resource.PLURAL, id="md_cache_users", registry=registry
    )
    async def md_cache_users(body: kopf.Body, **_: Any) -> dict[indexes.Key, str]:
        return indexes.cache_user_entry(_plain(body))

    @kopf.index("v1", "nodes", id="md_nodes", registry=registry)
    async def md_nodes(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
        return indexes.node_entry(_plain(body))

    @kopf.on.event("v1", "nodes", id="nodes_event", registry=registry)
    async def node_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        op.on_node(type, _plain(body))


def _register_child(
    registry: kopf.OperatorRegistry, op: Operator, kind: str, group_version: str
) -> None:
    group, _, version = group_version.rpartition("/")
    resource_ref = (group, version, kind) if group else (version, kind)

    # Handlers are coroutines: kopf runs plain functions in a thread pool, which costs more
    # than the work itself at hundreds of watch events a minute.
    async def index_fn(body: kopf.Body, **_: Any) -> dict[indexes.Key, dict[str, Any]]:
        return indexes.child_entry(kind, _plain(body))

    async def event_fn(type: str | None, body: kopf.Body, **_: Any) -> None:
        health.EVENTS.labels(resource=kind).inc()
        plain = _plain(body)
        key = indexes.owner_key(plain)
        cache = indexes.cache_key(plain)
        if (key is None and cache is None) or not op.versions.changed(type, plain, kind=kind):
            return
        if key is not None and op.workers is not None:
            op.workers.wake_if_known(key)
        if cache is not None and op.cache_workers is not None:
            op.cache_workers.wake_if_known(cache)

    kopf.index(*resource_ref, id=f"md_{kind}", labels=indexes.MANAGED, registry=registry)(index_fn)
    kopf.on.event(*resource_ref, id=f"{kind}_event", labels=indexes.MANAGED, registry=registry)(
        event_fn
    )


def _register_cache_child(registry: kopf.OperatorRegistry, kind: str, group_version: str) -> None:
    """An index of a ModelCache's children (same watch stream as the deployments' own)."""
    group, _, version = group_version.rpartition("/")
    resource_ref = (group, version, kind) if group else (version, kind)

    async def index_fn(body: kopf.Body, **_: Any) -> dict[indexes.Key, dict[str, Any]]:
        return indexes.cache_child_entry(kind, _plain(body))

    kopf.index(*resource_ref, id=f"mc_{kind}", labels=indexes.MANAGED, registry=registry)(index_fn)


def _plain(body: kopf.Body) -> dict[str, Any]:
    """A plain dict snapshot of a kopf body (bodies are live views)."""
    return {key: body[key] for key in body}
