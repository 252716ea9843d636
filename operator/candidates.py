"""The candidate models of one ModelDeployment (spec.model, then spec.fallbacks): what the
reconciler gathers for the fallback planner (planners/fallback.py) and what it writes back.

Every candidate is looked at cheaply on each reconcile — its resolve (shared per source, so
2,000 deployments cost one ask per interval) and, with GPUs, its own size estimate and
placement — so that a smaller fallback is judged on what it needs, not on what the preferred
model needs. The deep look (fetch, replicas) is for the candidate the Deployment carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modeldeploy.operator import hub_lookups, indexes
from modeldeploy.operator.api.spec import ModelDeploymentSpec, ModelSource
from modeldeploy.operator.api.status import (
    ActiveModel,
    CachedModelState,
    CandidateState,
    CandidateStatus,
    ModelDeploymentStatus,
)
from modeldeploy.operator.api.types import duration_seconds
from modeldeploy.operator.planners import (
    candidate_failures,
    conditions,
    engine,
    fallback,
    naming,
    placement,
)
from modeldeploy.operator.planners.conditions import EventNote
from modeldeploy.operator.planners.inputs import Replica
from modeldeploy.operator.planners.observed import FetchView

RETARGET_SECONDS = 1.0
"""After the target failed for good: how soon the next candidate is picked."""


def sources(spec: ModelDeploymentSpec) -> list[ModelSource]:
    return [spec.model, *spec.fallbacks]


def with_model(spec: ModelDeploymentSpec, source: ModelSource) -> ModelDeploymentSpec:
    """The spec as if `source` were spec.model (what the rollout of that candidate plans)."""
    if source is spec.model:
        return spec
    return spec.model_copy(update={"model": source})


def policy(spec: ModelDeploymentSpec) -> fallback.Policy:
    rules = spec.fallback_policy
    return fallback.Policy(
        retry_every=duration_seconds(rules.retry_preferred_every),
        transient_grace=duration_seconds(rules.transient_grace),
    )


def previous_active(previous: ModelDeploymentStatus, spec: ModelDeploymentSpec) -> int | None:
    """The candidate the last status said serves, if the spec still has it at that place."""
    active, models = previous.active_model, sources(spec)
    if active is None or active.index >= len(models) or models[active.index].repo != active.repo:
        return None
    return active.index


def deployed_model(
    spec: ModelDeploymentSpec, deployments: Sequence[dict[str, Any]]
) -> ModelSource | None:
    """The candidate the existing Deployment serves (its repo annotation)."""
    for deployment in deployments:
        repo = (deployment["metadata"].get("annotations") or {}).get(naming.ANNOTATION_REPO)
        if repo:
            return next((m for m in sources(spec) if m.repo == repo), None)
    return None


@dataclass(frozen=True)
class Choice:
    """The candidates before the rollout: what was seen of each and which one to carry."""

    looks: list[fallback.Look]
    previous: list[CandidateStatus]
    active: int | None
    target: int


async def choose(
    hub: hub_lookups.HubLookups,
    key: indexes.Key,
    spec: ModelDeploymentSpec,
    *,
    view: indexes.IndexView,
    previous: ModelDeploymentStatus,
    now: datetime,
) -> Choice:
    """Look at every candidate cheaply and pick the one the Deployment should carry."""
    models = sources(spec)
    hub.keep_slots(key, len(models))
    looks = []
    for index, source in enumerate(models):
        candidate = with_model(spec, source)
        outcome = await hub.resolve(key, candidate, ModelDeploymentStatus(), slot=index)
        fits, fit_message = None, ""
        if spec.gpu.count > 0 and outcome.commit is not None:
            weight = await hub.weight_bytes(key, candidate, outcome.commit)
            estimate = None
            if weight is not None:
                estimate = engine.estimated_gpu_memory(candidate, weight)
            fit = placement.preflight(
                view.nodes(), placement.need_of(candidate, estimated_bytes=estimate)
            )
            fits, fit_message = fit.fits, fit.message
        failure = candidate_failures.cheap_failure(
            outcome.error, outcome.retryable, fits=fits, fit_message=fit_message
        )
        looks.append(fallback.Look(index, source.repo, outcome.commit, failure))
    before = fallback.initial([m.repo for m in models], previous.candidates)
    active = previous_active(previous, spec)
    target = fallback.pick(before, looks, active=active, now=now, policy=policy(spec))
    return Choice(looks, before, active, target)


def serving_elsewhere(choice: Choice | None, previous: ModelDeploymentStatus) -> str | None:
    """During a trial of another candidate: the commit the serving candidate runs."""
    if choice is None or choice.active is None or choice.active == choice.target:
        return None
    active = previous.active_model
    return active.commit if active is not None else None


def previous_target(choice: Choice) -> int | None:
    """The candidate the last status described (the one being tried, else the one serving)."""
    trying = [c.index for c in choice.previous if c.state is CandidateState.TRYING]
    return trying[0] if trying else choice.active


def stale_fetch(choice: Choice | None, fetch: FetchView | None, now: datetime) -> bool:
    """A failed fetch Job of the target that belongs to an earlier trial: the candidate is
    being tried again (its retry is due), or its trial began after that Job started. Its
    Job is deleted so that the trial fetches afresh."""
    if choice is None or fetch is None or not fetch.failed_finally:
        return False
    status = choice.previous[choice.target]
    if status.state is CandidateState.UNAVAILABLE:
        return status.retry_at is None or fallback.parse_time(status.retry_at) <= now
    if status.state is CandidateState.TRYING and status.last_tried and fetch.started_at:
        return fallback.parse_time(fetch.started_at) < fallback.parse_time(status.last_tried)
    return False


@dataclass(frozen=True)
class Outcome:
    status: ModelDeploymentStatus
    notes: list[EventNote]
    delay: float | None
    """Seconds until the next look the candidates need (None: no earlier than otherwise)."""


def finish(
    choice: Choice,
    spec: ModelDeploymentSpec,
    new: ModelDeploymentStatus,
    previous: ModelDeploymentStatus,
    *,
    replicas: Sequence[Replica],
    desired: int,
    fetch: FetchView | None,
    now: datetime,
    crash_looping: frozenset[str] = frozenset(),
) -> Outcome:
    """The status with every candidate's state, the active model and FallbackActive."""
    target = choice.target
    look = choice.looks[target]
    label = (look.commit or "")[:12]
    mine = [r for r in replicas if label and r.pod.commit_label == label]
    others_serve = any(r.ready for r in replicas if r.pod.commit_label != label)
    corrupted = None
    if new.cache is not None and new.cache.state is CachedModelState.CORRUPTED:
        corrupted = new.cache.message or "the shared copy failed verification"
    failure = candidate_failures.judge(
        look.failure,
        fetch=fetch,
        corrupted=corrupted,
        replicas=mine,
        others_serve=others_serve,
        task=candidate_failures.expected_task(spec.task.value, choice.previous),
        crash_looping=crash_looping,
    )
    serving = desired > 0 and sum(1 for r in mine if r.ready) >= desired and failure is None
    reported = next((r.report.task for r in mine if r.report.reachable and r.report.task), None)
    looks = list(choice.looks)
    looks[target] = fallback.Look(target, look.repo, look.commit, failure, serving, reported)
    rules = policy(spec)
    record = fallback.record(
        choice.previous, looks, target=target, active=choice.active, now=now, policy=rules
    )
    active = fallback.active_model(record.candidates, record.active)
    merged = conditions.merge(
        previous.conditions,
        [fallback.condition(record.candidates, record.active)],
        generation=new.observed_generation,
        now=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    message = new.message
    if record.active is None:
        message = f"{message or ''}; candidates: {fallback.summary(record.candidates)}"
    status = new.model_copy(
        update={
            "active_model": active,
            "candidates": record.candidates,
            "conditions": [c for c in new.conditions if c.type != merged[0].type] + merged,
            "message": message,
        }
    )
    notes = fallback.switch_notes(previous.active_model, active, record.candidates)
    notes += fallback.unavailable_notes(choice.previous, record.candidates)
    delay = RETARGET_SECONDS if record.retarget else None
    retry = fallback.next_retry_seconds(record.candidates, now)
    if retry is not None:
        delay = min(delay, retry) if delay is not None else retry
    return Outcome(status, notes, delay)


def single_active(
    spec: ModelDeploymentSpec,
    new: ModelDeploymentStatus,
    previous: ModelDeploymentStatus,
    *,
    commit: str | None,
    replicas: Sequence[Replica],
    desired: int,
) -> ActiveModel | None:
    """Without fallbacks: spec.model is the active model once its replicas served."""
    label = (commit or "")[:12]
    ready = sum(1 for r in replicas if label and r.pod.commit_label == label and r.ready)
    if desired > 0 and ready >= desired:
        return ActiveModel(index=0, repo=spec.model.repo, commit=commit)
    kept = previous.active_model
    if kept is not None and kept.index == 0 and kept.repo == spec.model.repo:
        return kept
    return None
