"""One reconcile of one ModelCache: gather, plan (`planners.cache`), apply, write status.

Gathers what the planner needs: the ModelCache, its claim and Jobs (from the watch-fed
indexes), the commits its preloads name (resolved with each preload's own token), what the
ModelDeployments that use it reported (`cache_book`), and the last line each of its Jobs
printed (their pod logs: a maintenance Job prints its report of the volume last; a fetch
Job its progress). Reports are read once per finished Job, written into the status, and
only then is the Job deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from modeldeploy.operator import applier, health, hub_lookups, indexes, kube
from modeldeploy.operator.api import cache as api
from modeldeploy.operator.api.spec import ModelDeploymentSpec
from modeldeploy.operator.api.status import ConditionType, ModelDeploymentStatus
from modeldeploy.operator.cache_book import CacheBook
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import cache as planner
from modeldeploy.operator.planners import conditions, observed

log = logging.getLogger(__name__)

ACTIVE_SECONDS = 10.0
"""Poll while a Job of the cache runs (its progress and its end come without a watch event
only for the log; the Job's own status changes do wake the worker)."""


class CacheReconciler:
    """Reconciles ModelCaches; one instance per operator process."""

    def __init__(
        self,
        *,
        settings: Settings,
        client: kube.Kube,
        hub: hub_lookups.HubLookups,
        book: CacheBook,
        referencing: Callable[[indexes.Key], Iterable[str]],
    ) -> None:
        self.settings = settings
        self._kube = client
        self._hub = hub
        self._book = book
        self._referencing = referencing
        self.applier = applier.Applier(client=client)
        self._last_lines: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._written: dict[str, api.ModelCacheStatus] = {}
        self._reported: dict[indexes.Key, set[str]] = {}
        """Per cache: finished Jobs whose Events were posted (until they leave the index)."""

    def forget(self, key: indexes.Key) -> None:
        namespace, name = key
        prefix = planner.claim_name(name)
        self.applier.forget(namespace, owned=lambda child: child.startswith(prefix))
        self._book.forget_cache(key)
        self._reported.pop(key, None)
        self._last_lines = {
            k: v
            for k, v in self._last_lines.items()
            if not (k[0] == namespace and k[1].startswith(prefix))
        }

    async def reconcile(self, body: Mapping[str, Any], view: indexes.IndexView) -> float:
        metadata = body["metadata"]
        key: indexes.Key = (metadata["namespace"], metadata["name"])
        uid = metadata["uid"]
        previous = self._written.get(uid) or _previous(body.get("status"))
        try:
            resource = api.ModelCache.model_validate(
                {"metadata": {}, "spec": body.get("spec") or {}}
            )
        except ValidationError as exc:
            await self._write_status(body, previous, _invalid(previous, exc, metadata))
            return self.settings.resolve_seconds
        spec = resource.spec
        caches = view.for_caches()
        jobs = [await self._job_view(key, job, caches) for job in caches.children("jobs", key)]
        claims = caches.children("persistentvolumeclaims", key)
        preloads, preload_errors = await self._preloads(key, spec)
        wants = [*self._book.wants(key), *preloads]
        use = self._book.use(key, referencing=self._referencing(key))
        inputs = planner.CacheInputs(
            name=key[1],
            namespace=key[0],
            uid=uid,
            generation=int(metadata.get("generation") or 0),
            created=str(metadata.get("creationTimestamp") or _now_iso()),
            spec=spec,
            previous=previous,
            wants=wants,
            use=use,
            jobs=jobs,
            claim=claims[0] if claims else None,
            image=self.settings.runtime_image,
            endpoint_for=self.settings.endpoint_for,
            storage_class=self.settings.cache_storage_class,
            inventory_seconds=self.settings.cache_inventory_seconds,
            now=datetime.now(UTC),
            reported=frozenset(self._reported.get(key, set())),
            preload_errors=preload_errors,
        )
        plan = planner.plan(inputs)
        # Before a clean-up Job can exist: what it keeps is what deployments may mount meanwhile.
        self._book.set_cleanup(key, _cleanup_keep(plan.objects, caches.children("jobs", key)))
        await self.applier.apply(plan.objects, caches, key)
        changed = await self._write_status(body, previous, plan.status, plan.events)
        present = {j.name for j in jobs}
        self._reported[key] = {j.name for j in jobs if j.finished} & present
        for name in plan.delete_jobs:
            await self._kube.delete_job(namespace=key[0], name=name)
            self.applier.forget_one((key[0], name, "Job"))
            self._last_lines.pop((key[0], name), None)
        if changed:
            self._book.wake_users_of(key, _changed_for_deployments(previous, plan.status))
        running = any(not j.finished for j in jobs) or any(
            o["kind"] == "Job" for o in plan.objects if not _exists(o, jobs)
        )
        return ACTIVE_SECONDS if running else self.settings.status_poll_seconds * 4

    async def _preloads(
        self, key: indexes.Key, spec: api.ModelCacheSpec
    ) -> tuple[list[planner.Want], list[str]]:
        """Each preload at the commit its revision names now (resolved with its own token),
        and why each one that did not resolve did not."""
        wants, errors = [], []
        for index, source in enumerate(spec.preload):
            as_deployment = ModelDeploymentSpec(model=source)
            outcome = await self._hub.resolve(
                (key[0], f"{key[1]}/preload/{index}"), as_deployment, ModelDeploymentStatus()
            )
            if outcome.commit is None:
                why = f"{outcome.error[0]}: {outcome.error[1]}" if outcome.error else "resolving"
                errors.append(f"spec.preload[{index}] {source.repo}@{source.revision}: {why}")
                continue
            directory = planner.model_directory(source, outcome.commit)
            wants.append(planner.Want(directory, source, outcome.commit, requester="preload"))
        return wants, errors

    async def _job_view(
        self, key: indexes.Key, job: Mapping[str, Any], view: indexes.IndexView
    ) -> planner.JobView:
        bare = planner.JobView.from_job(job, last_line=None)
        remembered = self._last_lines.get((key[0], bare.name))
        if remembered is not None:
            return planner.JobView.from_job(job, last_line=remembered)
        if not bare.finished and bare.task != planner.TASK_FETCH:
            return bare  # a maintenance Job prints its report only at the end
        line = await self._last_line(key, bare.name, view)
        if line is not None and bare.finished:
            self._last_lines[(key[0], bare.name)] = line
        return planner.JobView.from_job(job, last_line=line)

    async def _last_line(
        self, key: indexes.Key, job: str, view: indexes.IndexView
    ) -> Mapping[str, Any] | None:
        pods = [
            p
            for p in view.children("pods", key)
            if (p["metadata"].get("labels") or {}).get("job-name") == job
        ]
        if not pods:
            return None
        newest = max(pods, key=lambda p: p["metadata"].get("name", ""))
        host_ip = (newest.get("status") or {}).get("hostIP")
        if not host_ip or not self.settings.may_poll(host_ip):
            return None
        text = await self._kube.pod_log_tail(
            namespace=key[0], pod=newest["metadata"]["name"], lines=3
        )
        return observed.last_json_line(text)

    async def _write_status(
        self,
        body: Mapping[str, Any],
        previous: api.ModelCacheStatus,
        new: api.ModelCacheStatus,
        events: Iterable[conditions.EventNote] = (),
    ) -> bool:
        metadata = body["metadata"]
        old_doc, new_doc = _dump(previous), _dump(new)
        written = self._written.get(metadata["uid"])
        notes = list(events)
        if old_doc == new_doc and (body.get("status") or written is not None) and not notes:
            return False
        if old_doc != new_doc or not body.get("status"):
            stored = set(body.get("status") or {}) | set(_dump(written) if written else {})
            patch: dict[str, Any] = {k: None for k in sorted(stored) if k not in new_doc}
            patch.update(new_doc)
            await self._kube.patch_status(
                namespace=metadata["namespace"], name=metadata["name"], status=patch,
                kind=api.KIND,
            )  # fmt: skip
            self._written[metadata["uid"]] = new
            health.STATUS_WRITES.inc()
        for note in notes:
            await self._kube.post_event(
                namespace=metadata["namespace"],
                name=metadata["name"],
                uid=metadata["uid"],
                type_=note.type,
                reason=note.reason,
                message=note.message,
                kind=api.KIND,
            )
        return old_doc != new_doc


_READ_BY_DEPLOYMENTS = ("state", "message", "verified_at", "bytes_done", "bytes_total", "bad_files")


def _changed_for_deployments(before: api.ModelCacheStatus, after: api.ModelCacheStatus) -> set[str]:
    """Directories whose fields a ModelDeployment reads changed (usage and users are written
    by the deployments themselves: waking them for those would only loop)."""

    def seen(status: api.ModelCacheStatus) -> dict[str, tuple[Any, ...]]:
        rows = {m.name: tuple(getattr(m, f) for f in _READ_BY_DEPLOYMENTS) for m in status.models}
        rows |= {p.name: (p.reason, p.message) for p in status.pending}
        return rows

    old, new = seen(before), seen(after)
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


def _cleanup_keep(
    planned: list[dict[str, Any]], jobs: list[dict[str, Any]]
) -> frozenset[str] | None:
    """REPO@COMMIT kept by the clean-up Job that runs or is about to (None: none does)."""
    running = [
        j
        for j in jobs
        if (j["metadata"].get("annotations") or {}).get(planner.ANNOTATION_TASK) == planner.TASK_GC
        and not planner.JobView.from_job(j, last_line=None).finished
    ]
    created = [
        o
        for o in planned
        if o["kind"] == "Job"
        and o["metadata"]["annotations"].get(planner.ANNOTATION_TASK) == planner.TASK_GC
    ]
    args: list[str] = []
    for job in running + created:
        containers = (job.get("spec") or {}).get("template", {}).get("spec", {}).get(
            "containers"
        ) or [{}]
        args += containers[0].get("args") or []
    if not running and not created:
        return None
    return frozenset(args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--keep")


def _exists(obj: Mapping[str, Any], jobs: list[planner.JobView]) -> bool:
    return any(j.name == obj["metadata"]["name"] for j in jobs)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dump(status: api.ModelCacheStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def _previous(raw: Any) -> api.ModelCacheStatus:
    if not isinstance(raw, Mapping):
        return api.ModelCacheStatus()
    try:
        return api.ModelCacheStatus.model_validate(dict(raw))
    except ValueError:
        return api.ModelCacheStatus()


def _invalid(
    previous: api.ModelCacheStatus, exc: ValidationError, metadata: Mapping[str, Any]
) -> api.ModelCacheStatus:
    message = "; ".join(
        f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
    )
    verdict = conditions.false(ConditionType.READY, "InvalidSpec", message)
    return previous.model_copy(
        update={
            "observed_generation": int(metadata.get("generation") or 0),
            "conditions": conditions.merge(
                previous.conditions,
                [verdict],
                generation=int(metadata.get("generation") or 0),
                now=_now_iso(),
            ),
        }
    )
