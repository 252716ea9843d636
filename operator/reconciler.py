"""One reconcile of one ModelDeployment: observe, plan, apply what changed, write status.

The planners decide; this module only gathers their inputs (indexes, the hub, runtime
/status) and carries out their output. It keeps small in-memory caches so that an idle
fleet costs almost nothing: resolve results (re-resolved every `resolve_seconds`), weight
size estimates (per commit), and the markers of what was last applied (a child is applied
again only when its desired form changed or someone else changed or deleted it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modeldeploy.operator import health, indexes, kube
from modeldeploy.operator.api.resource import ModelDeployment
from modeldeploy.operator.api.spec import ModelDeploymentSpec
from modeldeploy.operator.api.status import ModelDeploymentStatus, Phase
from modeldeploy.operator.api.validation import InvalidModelDeploymentError, parse_model_deployment
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import conditions, memory, naming, observed, placement, rollout
from modeldeploy.operator.planners import status as status_planner
from modeldeploy.operator.runtime_reports import RuntimeReporter

log = logging.getLogger(__name__)

RETRY_RESOLVE_SECONDS = 30.0
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
KIND_INDEX = {
    "Deployment": "deployments",
    "Job": "jobs",
    "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}


@dataclass
class _Resolved:
    outcome: status_planner.ResolveOutcome
    at: float


class Reconciler:
    """Reconciles ModelDeployments; one instance per operator process."""

    def __init__(self, *, settings: Settings, client: kube.Kube, reporter: RuntimeReporter) -> None:
        self.settings = settings
        self._kube = client
        self._reporter = reporter
        self._resolved: dict[indexes.Key, _Resolved] = {}
        self._estimates: dict[tuple[str, str, str, str], int | None] = {}
        self._applied: dict[tuple[str, str, str], tuple[str, kube.Applied]] = {}
        self._done_lines: dict[tuple[str, str], dict[str, Any]] = {}
        self._parsed: dict[str, tuple[int, ModelDeployment | InvalidModelDeploymentError]] = {}

    def forget(self, key: indexes.Key, *, live_uids: set[str]) -> None:
        """Drop the caches of a deleted ModelDeployment (children are named `<name>[-...]`)."""
        namespace, name = key
        self._resolved.pop(key, None)
        self._parsed = {uid: v for uid, v in self._parsed.items() if uid in live_uids}

        def mine(child: str) -> bool:
            return child == name or child.startswith(f"{name}-")

        for ident in [i for i in self._applied if i[0] == namespace and mine(i[1])]:
            del self._applied[ident]
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
        previous = _previous_status(body.get("status"))
        now = datetime.now(UTC)
        resource = self._parse(body, generation)
        if isinstance(resource, InvalidModelDeploymentError):
            new = status_planner.invalid_spec_status(
                previous, resource.problems, generation=generation, now=now
            )
            await self._write_status(body, previous, new)
            return self.settings.resolve_seconds
        spec = resource.spec
        names = naming.Names(name=key[1], namespace=key[0])
        uid = metadata["uid"]
        resolve = await self._resolve(key, spec, previous)
        weight_bytes = await self._weight_bytes(key, spec, resolve.commit)
        estimate = memory.estimated_gpu_memory(weight_bytes) if weight_bytes is not None else None
        fit = None
        if spec.gpu.count > 0:
            fit = placement.preflight(
                view.nodes(), placement.need_of(spec, estimated_bytes=estimate)
            )
        jobs = [observed.FetchView.from_job(job) for job in view.children("jobs", key)]
        deployments = view.children("deployments", key)
        ctx = rollout.Context(
            names=names,
            uid=uid,
            settings=self.settings,
            commit=resolve.commit,
            deployed_commit=_deployed_commit(deployments),
            fetched_commits=frozenset(job.commit for job in jobs if job.succeeded),
            fit=fit,
            weight_bytes=weight_bytes,
        )
        plan = rollout.plan(spec, ctx)
        await self._apply(plan.objects, view, key)
        await self._delete_obsolete_jobs(key, jobs, plan.keep_jobs if spec.cache else frozenset())
        fetch = await self._fetch_view(key, jobs, plan.fetch_commit, view)
        replicas = await self._replicas(spec, key, view)
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
            )
        )
        await self._write_status(body, previous, new)
        return self._next_look(new, has_pods=bool(replicas), fetching=bool(fetch and fetch.active))

    def _next_look(self, status: ModelDeploymentStatus, *, has_pods: bool, fetching: bool) -> float:
        """Seconds until the next unprompted reconcile (watch events come sooner)."""
        poll = self.settings.status_poll_seconds
        if fetching or (
            status.phase in MOVING_PHASES and (has_pods or status.phase is Phase.RESOLVING)
        ):
            return poll
        if has_pods:
            return poll * STEADY_FACTOR
        # No runtime to ask and no download to follow: only a re-resolve is due.
        return max(poll * STEADY_FACTOR, self.settings.resolve_seconds)

    async def _resolve(
        self, key: indexes.Key, spec: ModelDeploymentSpec, previous: ModelDeploymentStatus
    ) -> status_planner.ResolveOutcome:
        model = spec.model
        cached = self._resolved.get(key)
        if cached is not None and cached.outcome.revision == model.revision:
            if cached.outcome.error is None and cached.outcome.commit == model.revision:
                return cached.outcome  # a pinned commit never moves: resolved once
            age = time.monotonic() - cached.at
            wait = (
                self.settings.resolve_seconds
                if cached.outcome.error is None or not cached.outcome.retryable
                else RETRY_RESOLVE_SECONDS
            )
            if age < wait:
                return status_planner.ResolveOutcome(
                    cached.outcome.commit,
                    cached.outcome.revision,
                    cached.outcome.error,
                    cached.outcome.retryable,
                )
        earlier = previous.resolved_revision if previous.resolved_from == model.revision else None
        outcome = await self._ask_hub(key, spec, earlier)
        self._resolved[key] = _Resolved(outcome, time.monotonic())
        return outcome

    async def _ask_hub(
        self, key: indexes.Key, spec: ModelDeploymentSpec, earlier: str | None
    ) -> status_planner.ResolveOutcome:
        from modeldeploy.hub.errors import FetchError
        from modeldeploy.hub.resolve import resolve_revision

        model = spec.model
        started = time.monotonic()
        try:
            token = await self._token(key, spec)
            commit = await asyncio.to_thread(
                resolve_revision,
                model.repo,
                model.revision,
                endpoint=self.settings.endpoint_for(model.endpoint),
                token=token,
            )
        except FetchError as exc:
            return status_planner.ResolveOutcome(
                earlier, model.revision, (exc.reason.value, exc.message), exc.retryable
            )
        except kube.KubeError as exc:
            return status_planner.ResolveOutcome(
                earlier, model.revision, ("TokenUnavailable", str(exc)), True
            )
        except Exception as exc:  # the hub client may raise anything on a broken network
            return status_planner.ResolveOutcome(
                earlier, model.revision, ("NetworkError", f"{type(exc).__name__}: {exc}"), True
            )
        return status_planner.ResolveOutcome(
            commit, model.revision, None, False, time.monotonic() - started
        )

    async def _token(self, key: indexes.Key, spec: ModelDeploymentSpec) -> str | None:
        ref = spec.model.token_secret_ref
        if ref is None:
            return None
        return await self._kube.read_secret_key(namespace=key[0], name=ref.name, key=ref.key)

    async def _weight_bytes(
        self, key: indexes.Key, spec: ModelDeploymentSpec, commit: str | None
    ) -> int | None:
        """Bytes of weights at the target dtype, from safetensors headers (once per commit)."""
        if commit is None:
            return None
        endpoint = self.settings.endpoint_for(spec.model.endpoint)
        cache_key = (spec.model.repo, commit, spec.runtime.dtype.value, endpoint)
        if cache_key not in self._estimates:
            self._estimates[cache_key] = await self._ask_size(key, spec, commit, endpoint)
        return self._estimates[cache_key]

    async def _ask_size(
        self, key: indexes.Key, spec: ModelDeploymentSpec, commit: str, endpoint: str
    ) -> int | None:
        from modeldeploy.hub.safetensors_header import remote_weight_bytes

        dtype = None if spec.runtime.dtype.value == "auto" else spec.runtime.dtype.value
        try:
            token = await self._token(key, spec)
            return await asyncio.to_thread(
                remote_weight_bytes,
                spec.model.repo,
                commit,
                endpoint=endpoint,
                token=token,
                dtype=dtype,
            )
        except Exception as exc:  # no estimate is no reason to stop: the preflight is skipped
            log.info(
                "no size estimate for %s@%s: %s", spec.model.repo, commit[:12], type(exc).__name__
            )
            return None

    async def _apply(
        self, objects: list[dict[str, Any]], view: indexes.IndexView, key: indexes.Key
    ) -> None:
        for obj in objects:
            ident = (obj["metadata"]["namespace"], obj["metadata"]["name"], obj["kind"])
            digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
            if not self._needs_apply(ident, digest, obj, view, key):
                continue
            self._applied[ident] = (digest, await self._kube.apply(obj))
            health.APPLIES.labels(kind=obj["kind"]).inc()

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

    async def _delete_obsolete_jobs(
        self, key: indexes.Key, jobs: list[observed.FetchView], keep: frozenset[str]
    ) -> None:
        for job in jobs:
            if job.name not in keep:
                await self._kube.delete_job(namespace=key[0], name=job.name)
                self._applied.pop((key[0], job.name, "Job"), None)

    async def _fetch_view(
        self,
        key: indexes.Key,
        jobs: list[observed.FetchView],
        commit: str | None,
        view: indexes.IndexView,
    ) -> observed.FetchView | None:
        job = next((j for j in jobs if j.commit == commit), None)
        if job is None:
            return None
        line = self._done_lines.get((key[0], job.name))
        if line is None:
            line = await self._progress_line(key, job, view)
            if line is not None and line.get("event") in {"done", "error"} and not job.active:
                self._done_lines[(key[0], job.name)] = line
        return observed.FetchView(**{**job.__dict__, "progress": line})

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

    async def _replicas(
        self, spec: ModelDeploymentSpec, key: indexes.Key, view: indexes.IndexView
    ) -> list[status_planner.Replica]:
        pods = [
            observed.PodView.from_pod(p)
            for p in view.children("pods", key)
            if (p["metadata"].get("labels") or {}).get(naming.LABEL_COMPONENT)
            == naming.COMPONENT_RUNTIME
        ]
        reports = await self._reporter.reports(pods, port=spec.runtime.port)
        return [
            status_planner.Replica(pod, report) for pod, report in zip(pods, reports, strict=True)
        ]

    async def _write_status(
        self, body: Mapping[str, Any], previous: ModelDeploymentStatus, new: ModelDeploymentStatus
    ) -> None:
        metadata = body["metadata"]
        old_doc, new_doc = _dump(previous), _dump(new)
        if old_doc == new_doc and body.get("status"):
            return
        patch: dict[str, Any] = {k: None for k in (body.get("status") or {}) if k not in new_doc}
        patch.update(new_doc)
        await self._kube.patch_status(
            namespace=metadata["namespace"], name=metadata["name"], status=patch
        )
        health.STATUS_WRITES.inc()
        for note in conditions.events(previous.conditions, new.conditions):
            await self._kube.post_event(
                namespace=metadata["namespace"],
                name=metadata["name"],
                uid=metadata["uid"],
                type_=note.type,
                reason=note.reason,
                message=note.message,
            )


def _contains(observed: Mapping[str, Any] | None, desired: Mapping[str, Any] | None) -> bool:
    observed = observed or {}
    return all(observed.get(key) == value for key, value in (desired or {}).items())


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


def _deployed_commit(deployments: list[dict[str, Any]]) -> str | None:
    for deployment in deployments:
        commit = (deployment["metadata"].get("annotations") or {}).get(naming.ANNOTATION_COMMIT)
        if commit and commit != naming.UNRESOLVED_REVISION:
            return str(commit)
    return None
