"""Which children should exist now: the plan for one ModelDeployment.

The decisions that make a rollout safe live here, away from any I/O:
* a resolved commit is fetched by its own Job (inline cache volume) and the Deployment moves
  to it only once that Job succeeded, so old replicas serve meanwhile;
* a ModelCache named by `spec.cache.name` is filled elsewhere (planners/cache/): this plan
  makes neither a volume nor a fetch Job for it;
* nothing fits (preflight) or `suspend: true` → zero replicas (the cache stays);
* Jobs of commits neither served nor being fetched are obsolete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modeldeploy.operator.api.spec import ModelDeploymentSpec, ModelSource
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import engine, fetchjob, naming, workload
from modeldeploy.operator.planners.placement import Fit


@dataclass(frozen=True)
class Context:
    """Everything besides the spec that the children depend on."""

    names: naming.Names
    uid: str
    settings: Settings
    commit: str | None
    """The resolved commit (None before the first successful resolve)."""
    deployed_commit: str | None = None
    """The commit the existing Deployment serves (its annotation), if any."""
    fetched_commits: frozenset[str] = frozenset()
    """Commits whose fetch Job, as the spec now wants it (`fetch_job_name`), succeeded."""
    fit: Fit | None = None
    weight_bytes: int | None = None
    render: bool = False
    """`modeldeploy render`: show every object, as if the commit were resolved and fetched."""
    deployed_model: ModelSource | None = None
    """The candidate model the existing Deployment serves (its repo annotation), when it is
    not spec.model: it keeps serving it until the new one is fetched."""
    rolled_out: bool = False
    """The last status said Ready on `deployed_commit`: every replica serves it, none an older
    commit (an inline cache volume may then drop the commits nobody serves)."""


@dataclass(frozen=True)
class Plan:
    objects: list[dict[str, Any]]
    serving_commit: str | None
    replicas: int
    fetch_commit: str | None
    keep_jobs: frozenset[str] = field(default_factory=frozenset)
    fetch_job: str | None = None
    """The name of the Job that fetches `fetch_commit` (None without a cache)."""


def fetch_job_name(
    spec: ModelDeploymentSpec, *, names: naming.Names, settings: Settings, commit: str
) -> str:
    """The Job that fetches `commit` with the spec's current file selection, image and token."""
    job = _fetch_job(spec, names=names, uid="", settings=settings, commit=commit)
    return str(job["metadata"]["name"])


def _fetch_job(
    spec: ModelDeploymentSpec,
    *,
    names: naming.Names,
    uid: str,
    settings: Settings,
    commit: str | None,
) -> dict[str, Any]:
    return fetchjob.fetch_job(
        spec,
        names=names,
        uid=uid,
        commit=commit,
        image=spec.runtime.image or settings.runtime_image,
        endpoint=settings.endpoint_for(spec.model.endpoint),
    )


def _inline_cache(spec: ModelDeploymentSpec) -> bool:
    """An inline cache volume, filled by this ModelDeployment's own fetch Jobs."""
    return spec.cache is not None and spec.cache.inline


def serving_commit(spec: ModelDeploymentSpec, ctx: Context) -> str | None:
    """The commit the replicas should run now."""
    if spec.cache is None or ctx.render:
        return ctx.commit or ctx.deployed_commit
    if ctx.commit is not None and ctx.commit in ctx.fetched_commits:
        return ctx.commit
    return ctx.deployed_commit


def desired_replicas(spec: ModelDeploymentSpec, ctx: Context) -> int:
    if spec.suspend or (ctx.fit is not None and not ctx.fit.fits):
        return 0
    return spec.replicas


def plan(spec: ModelDeploymentSpec, ctx: Context) -> Plan:
    """The objects to apply (server-side, in this order) and the decisions behind them."""
    names, settings = ctx.names, ctx.settings
    image = spec.runtime.image or settings.runtime_image  # the Jobs': no engine in them
    endpoint = settings.endpoint_for(spec.model.endpoint)
    objects: list[dict[str, Any]] = []
    inline = _inline_cache(spec)
    fetch_commit = ctx.commit if inline else None
    fetch_name = None
    if inline:
        objects.append(
            fetchjob.cache_claim(
                spec, names=names, uid=ctx.uid, storage_class=settings.cache_storage_class
            )
        )
        if fetch_commit is not None or ctx.render:
            job = _fetch_job(spec, names=names, uid=ctx.uid, settings=settings, commit=fetch_commit)
            fetch_name = str(job["metadata"]["name"])
            objects.append(job)
    serving = serving_commit(spec, ctx)
    replicas = desired_replicas(spec, ctx)
    if serving is not None or ctx.render:
        served = spec
        if serving is not None and serving == ctx.deployed_commit and ctx.deployed_model:
            served = spec.model_copy(update={"model": ctx.deployed_model})
        inputs = workload.WorkloadInputs(
            names=names,
            uid=ctx.uid,
            commit=serving,
            image=engine.serving_image(spec, settings),
            endpoint=endpoint,
            replicas=replicas,
            weight_bytes=ctx.weight_bytes,
        )
        objects.append(workload.deployment(served, inputs))
    objects.append(workload.service(spec, names=names, uid=ctx.uid))
    objects.append(workload.service(spec, names=names, uid=ctx.uid, waiting=True))
    if spec.monitoring.service_monitor:
        objects.append(workload.service_monitor(names=names, uid=ctx.uid))
    keep = {
        fetch_job_name(spec, names=names, settings=settings, commit=c)
        for c in (fetch_commit, serving)
        if c is not None and inline
    }
    settled = serving == ctx.deployed_commit == ctx.commit  # nothing newer being fetched
    if inline and serving is not None and ctx.rolled_out and settled:
        cleanup = fetchjob.cleanup_job(spec, names=names, uid=ctx.uid, commit=serving, image=image)
        objects.append(cleanup)
        keep.add(str(cleanup["metadata"]["name"]))
    return Plan(objects, serving, replicas, fetch_commit, frozenset(keep), fetch_name)
