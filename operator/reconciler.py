"""One reconcile of one ModelDeployment: observe, plan, apply what changed, write status.

The planners decide; this module only gathers their inputs (indexes, the hub, runtime
/status) and carries out their output. It keeps small in-memory caches so that an idle
fleet costs almost nothing: resolve results (re-resolved every `resolve_seconds`), weight
size estimates (per commit), and the markers of what was last applied (a child is applied
again only when its desired form changed or someone else changed or deleted it).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from modeldeploy.operator import applier, candidates, health, hub_lookups, indexes, kube
from modeldeploy.operator.api.resource import ModelDeployment
from modeldeploy.operator.api.spec import DType, ModelDeploymentSpec, ModelSource
from modeldeploy.operator.api.status import ModelDeploymentStatus, Phase
from modeldeploy.operator.api.validation import InvalidModelDeploymentError, parse_model_deployment
from modeldeploy.operator.cache_book import CacheBook, Report
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import (
    candidate_failures,
    conditions,
    engine,
    naming,
    observed,
    placement,
    rollout,
    shared,
    usage,
)
from modeldeploy.operator.planners import status as status_planner
from modeldeploy.operator.runtime_reports import RuntimeReporter

log = logging.getLogger(__name__)

STEADY_FACTOR = 8
MOVING_PHASES = {
    Phase.RESOLVING,
    Phase.DOWNLOADING,
    Phase.VERIFYING,
    Phase.DEPLOYING,
    Phase.LOADING,
    Phase.WARMING_UP,
    Phase.DEGRADED,
}
"""Phases in which something changes without a watch event (runtime progress, downloads):
polled every `status_poll_seconds`. Otherwise STEADY_FACTOR times slower — a runtime that
fails flips its pod's readiness, and that watch event wakes the worker at once."""
UNREACHABLE_PATIENCE_SECONDS = 120.0
"""Runtimes that have not answered /status for this long (their pods run, nothing listens)
are asked STEADY_FACTOR times less often: when one comes up, its pod's readiness flips and
that watch event wakes the worker at once; a restart is an event too."""
BACKSTOP_FACTOR = 12
"""A deployment with no runtime to ask and no download to follow is woken by what can
change for it — its object, its children, its cache, a node, its source's re-resolve
(`HubLookups.keep_fresh`) — and otherwise looked at only this many steady intervals apart
(an hour at the defaults), in case a wake-up was ever lost."""


class Reconciler:
    """Reconciles ModelDeployments; one instance per operator process."""

    def __init__(
        self,
        *,
        settings: Settings,
        client: kube.Kube,
        reporter: RuntimeReporter,
        book: CacheBook | None = None,
    ) -> None:
        self.settings = settings
        self._kube = client
        self._reporter = reporter
        self._book = book or CacheBook()
        self._baselines: dict[str, dict[str, tuple[int, int]]] = {}
        self._usage_at: dict[str, float] = {}
        self._unreachable_since: dict[str, float] = {}
        self._restarts: dict[str, dict[str, candidate_failures.Restarts]] = {}
        self.hub = hub_lookups.HubLookups(settings=settings, client=client)
        self.applier = applier.Applier(client=client)
        self._done_lines: dict[tuple[str, str], dict[str, Any]] = {}
        self._parsed: dict[str, tuple[int, ModelDeployment | InvalidModelDeploymentError]] = {}
        self._written: dict[str, ModelDeploymentStatus] = {}
        """The status last written per uid: the cached body shows our own write only once
        its watch echo arrives, and a reconcile in between must not write (and post its
        Events) again. The operator is the only writer of status (one replica)."""

    def forget(self, key: indexes.Key, *, live_uids: set[str]) -> None:
        """Drop the caches of a deleted ModelDeployment (children are named `<name>[-...]`)."""
        namespace, name = key
        self.hub.forget(key)
        self._parsed = {uid: v for uid, v in self._parsed.items() if uid in live_uids}
        self._written = {uid: v for uid, v in self._written.items() if uid in live_uids}
        self._baselines = {uid: v for uid, v in self._baselines.items() if uid in live_uids}
        self._usage_at = {uid: v for uid, v in self._usage_at.items() if uid in live_uids}
        self._unreachable_since = {
            uid: v for uid, v in self._unreachable_since.items() if uid in live_uids
        }
        self._restarts = {uid: v for uid, v in self._restarts.items() if uid in live_uids}

        def mine(child: str) -> bool:
            return child == name or child.startswith(f"{name}-")

        self.applier.forget(namespace, owned=mine)
        for job in [j for j in self._done_lines if j[0] == namespace and mine(j[1])]:
            del self._done_lines[job]

    def _parse(
        self, body: Mapping[str, Any], generation: int
    ) -> ModelDeployment | InvalidModelDeploymentError:
        """The typed object, validated once per generation (a generation's spec never changes)."""
        uid = body["metadata"]["uid"]
        cached = self._parsed.get(uid)
        if cached is not None and cached[0] == generation:
            return cached[1]
        try:
            result: ModelDeployment | InvalidModelDeploymentError = parse_model_deployment(
                _object_to_validate(body)
            )
        except InvalidModelDeploymentError as exc:
            result = exc
        self._parsed[uid] = (generation, result)
        return result

    async def reconcile(self, body: Mapping[str, Any], view: indexes.IndexView) -> float:
        """Bring children and status up to date; returns seconds until the next look."""
        metadata = body["metadata"]
        key: indexes.Key = (metadata["namespace"], metadata["name"])
        generation = int(metadata.get("generation") or 0)
        previous = self._written.get(metadata["uid"]) or _previous_status(body.get("status"))
        now = datetime.now(UTC)
        resource = self._parse(body, generation)
        if isinstance(resource, InvalidModelDeploymentError):
            pods = [
                p
                for p in view.children("pods", key)
                if _is_runtime(p) and not p["metadata"].get("deletionTimestamp")
            ]
            new = status_planner.invalid_spec_status(
                previous, resource.problems, generation=generation, now=now, replicas=len(pods)
            )
            self._log_changes(key, previous, new, [], await self._write_status(body, previous, new))
            return self.backstop_seconds()  # an edit of the spec wakes it
        spec = resource.spec
        names = naming.Names(name=key[1], namespace=key[0])
        uid = metadata["uid"]
        choice, spec, earlier = await self._candidate(key, spec, view, previous, now)
        resolve = await self.hub.resolve(
            key, spec, earlier, slot=choice.target if choice is not None else 0
        )
        weight_bytes = await self.hub.weight_bytes(key, spec, resolve.commit)
        estimate = (
            engine.estimated_gpu_memory(spec, weight_bytes) if weight_bytes is not None else None
        )
        fit = None
        if spec.gpu.count > 0:
            fit = placement.preflight(
                view.nodes(), placement.need_of(spec, estimated_bytes=estimate)
            )
        jobs = [observed.FetchView.from_job(job) for job in view.children("jobs", key)]
        deployments = view.children("deployments", key)
        deployed = _deployed_commit(deployments)
        runtime_pods = [
            observed.PodView.from_pod(p) for p in view.children("pods", key) if _is_runtime(p)
        ]
        use = self._use_shared_cache(
            key,
            spec,
            view,
            commit=resolve.commit,
            deployed=deployed,
            pods=runtime_pods,
            previous=previous,
            bytes_needed=await self._checkpoint_bytes(key, spec, resolve.commit),
            serving_model=_other_model(candidates.deployed_model(resource.spec, deployments), spec),
        )
        ctx = rollout.Context(
            names=names,
            uid=uid,
            settings=self.settings,
            commit=resolve.commit,
            deployed_commit=deployed,
            fetched_commits=use.fetched
            if use
            else _fetched_commits(spec, names, self.settings, jobs),
            fit=fit,
            weight_bytes=weight_bytes,
            rolled_out=previous.phase is Phase.READY and previous.serving_revision == deployed,
            deployed_model=_other_model(
                candidates.deployed_model(resource.spec, deployments), spec
            ),
        )
        plan = rollout.plan(spec, ctx)
        changed: list[str] = []
        apply_errors = await self.applier.apply(plan.objects, view, key, changed=changed)
        inline = spec.cache is not None and spec.cache.name is None
        await self._delete_obsolete_jobs(key, jobs, plan.keep_jobs if inline else frozenset())
        if use is not None:
            fetch = use.fetch
        else:
            fetch = await self._fetch_view(key, jobs, plan.fetch_job, view)
            if candidates.stale_fetch(choice, fetch, now):
                await self._fetch_afresh(key, fetch)
                fetch = None
        replicas = await self._replicas(spec, runtime_pods)
        served = self._tally(uid, previous, replicas)
        if use is not None:
            self._report_use(key, spec, use, served)
        new = status_planner.plan_status(
            status_planner.StatusInputs(
                name=key[1],
                generation=generation,
                spec=spec,
                previous=previous,
                plan=plan,
                resolve=resolve,
                fetch=fetch,
                replicas=replicas,
                fit=fit,
                estimate_bytes=estimate,
                now=now,
                apply_errors=tuple(apply_errors),
                shared=use.status if use else None,
                usage=served,
                serving_elsewhere=candidates.serving_elsewhere(choice, previous),
            )
        )
        outcome = _with_candidates(
            choice,
            declared=resource.spec,
            spec=spec,
            new=new,
            previous=previous,
            plan=plan,
            replicas=replicas,
            fetch=fetch,
            now=now,
            crash_looping=candidate_failures.crash_looping(
                self._restarts.setdefault(uid, {}),
                [(r.pod.name, r.pod.restarts) for r in replicas],
                time.monotonic(),
            ),
        )
        new, notes, hint = outcome.status, outcome.notes, outcome.delay
        written = await self._write_status(body, previous, new, notes)
        self._log_changes(key, previous, new, changed, written)
        delay = self._next_look(
            new,
            has_pods=bool(replicas),
            fetching=bool(fetch and fetch.active),
            unreachable_for=self._unreachable_for(uid, replicas),
        )
        return min(delay, hint) if hint is not None else delay

    async def _candidate(
        self,
        key: indexes.Key,
        spec: ModelDeploymentSpec,
        view: indexes.IndexView,
        previous: ModelDeploymentStatus,
        now: datetime,
    ) -> tuple[candidates.Choice | None, ModelDeploymentSpec, ModelDeploymentStatus]:
        """With fallbacks: the candidate to carry, the spec as if it were spec.model, and the
        status its resolve may fall back on (none when the last one was another candidate's)."""
        if not spec.fallbacks:
            return None, spec, previous
        choice = await candidates.choose(self.hub, key, spec, view=view, previous=previous, now=now)
        earlier = previous
        if candidates.previous_target(choice) != choice.target:
            earlier = ModelDeploymentStatus()
        return choice, candidates.with_model(spec, candidates.sources(spec)[choice.target]), earlier

    def _unreachable_for(self, uid: str, replicas: list[status_planner.Replica]) -> float:
        """Seconds for which no replica's runtime has answered (0 while one answers)."""
        if not replicas or any(r.state != observed.UNREACHABLE for r in replicas):
            self._unreachable_since.pop(uid, None)
            return 0.0
        return time.monotonic() - self._unreachable_since.setdefault(uid, time.monotonic())

    def _next_look(
        self,
        status: ModelDeploymentStatus,
        *,
        has_pods: bool,
        fetching: bool,
        unreachable_for: float = 0.0,
    ) -> float:
        """Seconds until the next unprompted reconcile (watch events come sooner)."""
        poll = self.settings.status_poll_seconds
        if unreachable_for > UNREACHABLE_PATIENCE_SECONDS and not fetching:
            return poll * STEADY_FACTOR
        if fetching or (
            status.phase in MOVING_PHASES and (has_pods or status.phase is Phase.RESOLVING)
        ):
            return poll
        if has_pods:
            return poll * STEADY_FACTOR
        return self.backstop_seconds()

    def backstop_seconds(self) -> float:
        """The longest a worker sleeps without being woken (see BACKSTOP_FACTOR)."""
        steady = self.settings.status_poll_seconds * STEADY_FACTOR
        return max(steady, self.settings.resolve_seconds) * BACKSTOP_FACTOR

    async def _delete_obsolete_jobs(
        self, key: indexes.Key, jobs: list[observed.FetchView], keep: frozenset[str]
    ) -> None:
        for job in jobs:
            if job.name not in keep:
                await self._kube.delete_job(namespace=key[0], name=job.name)
                self.applier.forget_one((key[0], job.name, "Job"))

    async def _fetch_afresh(self, key: indexes.Key, fetch: observed.FetchView | None) -> None:
        """Delete the failed fetch Job of an earlier trial: the candidate is tried again and
        the next reconcile creates its Job anew."""
        assert fetch is not None
        await self._kube.delete_job(namespace=key[0], name=fetch.name)
        self.applier.forget_one((key[0], fetch.name, "Job"))
        self._done_lines.pop((key[0], fetch.name), None)

    async def _fetch_view(
        self,
        key: indexes.Key,
        jobs: list[observed.FetchView],
        name: str | None,
        view: indexes.IndexView,
    ) -> observed.FetchView | None:
        job = next((j for j in jobs if j.name == name), None)
        if job is None:
            return None
        line = self._done_lines.get((key[0], job.name))
        if line is None:
            line = await self._progress_line(key, job, view)
            if line is not None and line.get("event") in {"done", "error"} and not job.active:
                self._done_lines[(key[0], job.name)] = line
        return dataclasses.replace(job, progress=line)

    async def _progress_line(
        self, key: indexes.Key, job: observed.FetchView, view: indexes.IndexView
    ) -> dict[str, Any] | None:
        pods = [
            p
            for p in view.children("pods", key)
            if (p["metadata"].get("labels") or {}).get("job-name") == job.name
        ]
        if not pods:
            return None
        newest = max(pods, key=lambda p: p["metadata"].get("name", ""))
        host_ip = (newest.get("status") or {}).get("hostIP")
        if not host_ip or not self.settings.may_poll(host_ip):
            return None  # the API server would fetch the log from that node's kubelet
        text = await self._kube.pod_log_tail(namespace=key[0], pod=newest["metadata"]["name"])
        return observed.last_progress_line(text)

    def _use_shared_cache(
        self,
        key: indexes.Key,
        spec: ModelDeploymentSpec,
        view: indexes.IndexView,
        *,
        commit: str | None,
        deployed: str | None,
        pods: list[observed.PodView],
        previous: ModelDeploymentStatus,
        bytes_needed: int | None,
        serving_model: ModelSource | None = None,
    ) -> shared.Use | None:
        """With spec.cache.name: what the named ModelCache holds for this deployment, after
        marking what it is about to mount as in use (before any pod is created)."""
        if spec.cache is None or spec.cache.name is None:
            self._book.report(key, None)
            return None
        cache_key = (key[0], spec.cache.name)
        use = shared.plan_use(
            spec,
            deployment=key[1],
            cache=view.model_cache(cache_key),
            commit=commit,
            deployed_commit=deployed,
            previous_serving=previous.serving_revision,
            pod_revisions={p.commit_label for p in pods if p.commit_label},
            may_mount=lambda target: self._book.may_mount(cache_key, target),
            bytes_needed=bytes_needed,
            serving_model=serving_model,
        )
        self._report_use(key, spec, use, None)
        return use

    async def _checkpoint_bytes(
        self, key: indexes.Key, spec: ModelDeploymentSpec, commit: str | None
    ) -> int | None:
        """The weights' bytes as stored (the least a download of them needs), shared caches
        only: judged against the cache's free space before its fetch starts."""
        if spec.cache is None or spec.cache.name is None or commit is None:
            return None
        stored = spec.model_copy(
            update={"runtime": spec.runtime.model_copy(update={"dtype": DType.AUTO})}
        )
        return await self.hub.weight_bytes(key, stored, commit)

    def _report_use(
        self,
        key: indexes.Key,
        spec: ModelDeploymentSpec,
        use: shared.Use,
        served: usage.Tally | None,
    ) -> None:
        assert spec.cache is not None and spec.cache.name is not None
        cache_key = (key[0], spec.cache.name)
        self._book.report(key, Report(cache=spec.cache.name, wants=use.wants, in_use=use.in_use))
        if served is not None and served.new and use.serving_directory:
            self._book.served(
                cache_key, use.serving_directory, requests=served.new, last_used=served.last_used
            )

    def _tally(
        self,
        uid: str,
        previous: ModelDeploymentStatus,
        replicas: list[status_planner.Replica],
    ) -> usage.Tally:
        """Requests served, written at most once per `status_poll_seconds`: a busy runtime's
        count changes between any two looks, and each status write wakes this deployment
        again (its watch echo), so counting at every reconcile would loop."""
        before, baselines = previous.usage, self._baselines.get(uid)
        result = usage.tally(
            total=before.requests if before else 0,
            last_used=before.last_used if before else None,
            baselines=baselines,
            replicas=[(r.pod, r.report) for r in replicas],
        )
        now = time.monotonic()
        counted = self._usage_at.get(uid)
        recent = counted is not None and now - counted < self.settings.status_poll_seconds
        if result.new and before and baselines is not None and recent:
            return usage.Tally(before.requests, before.last_used, dict(baselines), 0)
        if result.new or counted is None:
            self._usage_at[uid] = now
        self._baselines[uid] = result.baselines
        return result

    async def _replicas(
        self, spec: ModelDeploymentSpec, pods: list[observed.PodView]
    ) -> list[status_planner.Replica]:
        reports = await self._reporter.reports(pods, port=spec.runtime.port)
        return [
            status_planner.Replica(pod, report) for pod, report in zip(pods, reports, strict=True)
        ]

    def _log_changes(
        self,
        key: indexes.Key,
        previous: ModelDeploymentStatus,
        new: ModelDeploymentStatus,
        changed: list[str],
        written: bool,
    ) -> None:
        """One INFO line for a reconcile that changed something; none for a no-op."""
        summary = status_planner.change_summary(previous, new, changed=changed, written=written)
        if summary:
            log.info("%s/%s: %s", key[0], key[1], summary)

    async def _write_status(
        self,
        body: Mapping[str, Any],
        previous: ModelDeploymentStatus,
        new: ModelDeploymentStatus,
        notes: Sequence[conditions.EventNote] = (),
    ) -> bool:
        """Write `new` unless it is what status already holds; whether it wrote."""
        metadata = body["metadata"]
        old_doc, new_doc = _dump(previous), _dump(new)
        written = self._written.get(metadata["uid"])
        if old_doc == new_doc and (body.get("status") or written is not None):
            return False
        patch = merge_patch(body.get("status") or {}, new_doc)
        if written is not None:
            patch = merge_patch(_dump(written), patch)
        await self._kube.patch_status(
            namespace=metadata["namespace"], name=metadata["name"], status=patch
        )
        self._written[metadata["uid"]] = new
        health.STATUS_WRITES.inc()
        for note in [*conditions.events(previous.conditions, new.conditions), *notes]:
            await self._kube.post_event(
                namespace=metadata["namespace"],
                name=metadata["name"],
                uid=metadata["uid"],
                type_=note.type,
                reason=note.reason,
                message=note.message,
            )
        return True


def _with_candidates(
    choice: candidates.Choice | None,
    *,
    declared: ModelDeploymentSpec,
    spec: ModelDeploymentSpec,
    new: ModelDeploymentStatus,
    previous: ModelDeploymentStatus,
    plan: rollout.Plan,
    replicas: list[status_planner.Replica],
    fetch: observed.FetchView | None,
    now: datetime,
    crash_looping: frozenset[str] = frozenset(),
) -> candidates.Outcome:
    """The status with its active model (and, with fallbacks, every candidate's state)."""
    if choice is not None:
        return candidates.finish(
            choice,
            declared,
            new,
            previous,
            replicas=replicas,
            desired=plan.replicas,
            fetch=fetch,
            now=now,
            crash_looping=crash_looping,
        )
    active = candidates.single_active(
        spec, new, previous, commit=plan.serving_commit, replicas=replicas, desired=plan.replicas
    )
    return candidates.Outcome(new.model_copy(update={"active_model": active}), [], None)


def _other_model(deployed: ModelSource | None, spec: ModelDeploymentSpec) -> ModelSource | None:
    """The candidate the Deployment serves, when it is not the one spec.model now names."""
    return deployed if deployed is not None and deployed != spec.model else None


def merge_patch(stored: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) that turns `stored` into `new`: a field `new` lacks is
    set to null at every depth (a merge patch merges objects field by field, so a nested
    field left out would otherwise stay, e.g. activeModel.reason of an earlier candidate)."""
    patch: dict[str, Any] = {k: None for k in stored if k not in new}
    for key, value in new.items():
        before = stored.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = merge_patch(before, value)
        else:
            patch[key] = value
    return patch


def _dump(status: ModelDeploymentStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def _previous_status(raw: Any) -> ModelDeploymentStatus:
    if not isinstance(raw, Mapping):
        return ModelDeploymentStatus()
    try:
        return ModelDeploymentStatus.model_validate(dict(raw))
    except ValueError:
        return ModelDeploymentStatus()  # written by an older operator: start afresh


def _object_to_validate(body: Mapping[str, Any]) -> dict[str, Any]:
    metadata = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {"name": metadata.get("name"), "namespace": metadata.get("namespace")},
        "spec": body.get("spec") or {},
    }


def _fetched_commits(
    spec: ModelDeploymentSpec,
    names: naming.Names,
    settings: Settings,
    jobs: list[observed.FetchView],
) -> frozenset[str]:
    """Commits fetched with the selection the spec now asks for (a Job of an older
    selection filled the cache with other files: it does not count)."""
    return frozenset(
        job.commit
        for job in jobs
        if job.succeeded
        and job.commit
        and job.name
        == rollout.fetch_job_name(spec, names=names, settings=settings, commit=job.commit)
    )


def _is_runtime(pod: Mapping[str, Any]) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return bool(labels.get(naming.LABEL_COMPONENT) == naming.COMPONENT_RUNTIME)


def _deployed_commit(deployments: list[dict[str, Any]]) -> str | None:
    for deployment in deployments:
        commit = (deployment["metadata"].get("annotations") or {}).get(naming.ANNOTATION_COMMIT)
        if commit and commit != naming.UNRESOLVED_REVISION:
            return str(commit)
    return None
