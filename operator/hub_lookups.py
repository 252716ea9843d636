"""What the operator asks the hub: the commit a revision names, and the weights' size.

Both are cached so that an idle fleet costs almost nothing: a resolve is repeated every
`resolve_seconds` (a pinned commit only once; a failed one every RETRY_RESOLVE_SECONDS
when retrying can help), a size estimate once per commit. Deployments that share a source
(`source_key`) share its resolve, and `keep_fresh` repeats each source's resolve on its own,
waking only the deployments whose answer changed: an idle deployment without runtimes has
nothing else to look at, so it need not wake up just to re-resolve. The token is read from the
Secret at each ask and never leaves this module except towards the hub; messages that may
quote it are redacted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from modeldeploy.operator import indexes, kube
from modeldeploy.operator.api.spec import ModelDeploymentSpec
from modeldeploy.operator.api.status import ModelDeploymentStatus
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import status as status_planner

log = logging.getLogger(__name__)

RETRY_RESOLVE_SECONDS = 30.0
PRUNE_ABOVE = 1024
"""Resolves kept before stale ones (sources nobody asked about lately) are dropped."""

FRESH_TICK_SECONDS = 5.0
"""How often `keep_fresh` looks for sources whose resolve is due (a dict scan)."""

SourceKey = tuple[str, str, str, str, str]
Slot = tuple[indexes.Key, int]
"""A deployment's candidate model (0: spec.model, i: spec.fallbacks[i-1])."""


@dataclass
class _Resolved:
    outcome: status_planner.ResolveOutcome
    at: float


class HubLookups:
    """Resolves and size estimates, cached per ModelDeployment and per commit."""

    def __init__(self, *, settings: Settings, client: kube.Kube) -> None:
        self.settings = settings
        self._kube = client
        self._resolved: dict[SourceKey, _Resolved] = {}
        self._estimates: dict[tuple[str, str, str, str], int | None] = {}
        self._users: dict[SourceKey, set[Slot]] = {}
        self._source_of: dict[Slot, SourceKey] = {}
        self._askers: dict[SourceKey, tuple[indexes.Key, ModelDeploymentSpec]] = {}
        """Per source, a deployment (and its spec) to ask the hub as: any user will do, the
        source key holds everything a resolve depends on."""
        self.wake: Callable[[indexes.Key], None] = lambda key: None

    def forget(self, key: indexes.Key) -> None:
        """A deleted ModelDeployment uses its source no more (resolves themselves are kept
        per source and age out on their own)."""
        for slot in [s for s in self._source_of if s[0] == key]:
            self._leave(slot)

    def keep_slots(self, key: indexes.Key, count: int) -> None:
        """`key` has `count` candidates now (its list of fallbacks may have shrunk)."""
        for slot in [s for s in self._source_of if s[0] == key and s[1] >= count]:
            self._leave(slot)

    def _leave(self, slot: Slot) -> None:
        source = self._source_of.pop(slot, None)
        if source is None:
            return
        users = self._users.get(source, set())
        users.discard(slot)
        if not users:
            self._users.pop(source, None)
            self._askers.pop(source, None)

    def _join(self, slot: Slot, spec: ModelDeploymentSpec, source: SourceKey) -> None:
        if self._source_of.get(slot) != source:
            self._leave(slot)
            self._source_of[slot] = source
            self._users.setdefault(source, set()).add(slot)
        self._askers[source] = (slot[0], spec)

    def _wait(self, resolved: _Resolved) -> float:
        outcome = resolved.outcome
        if outcome.error is None or not outcome.retryable:
            return self.settings.resolve_seconds
        return RETRY_RESOLVE_SECONDS

    async def refresh_due(self) -> int:
        """Resolve again every source in use whose time has come; wake the deployments of
        each source whose answer (commit or failure) changed. Returns how many were asked."""
        asked = 0
        for source, (key, spec) in list(self._askers.items()):
            cached = self._resolved.get(source)
            if cached is None or _pinned(cached, spec):
                continue  # not resolved yet (its deployments do that first), or never moves
            if time.monotonic() - cached.at < self._wait(cached):
                continue
            outcome = await self.ask_hub(key, spec, cached.outcome.commit)
            asked += 1
            self._resolved[source] = _Resolved(outcome, time.monotonic())
            if _answer(outcome) != _answer(cached.outcome):
                for user in sorted({slot[0] for slot in self._users.get(source, ())}):
                    self.wake(user)
        return asked

    async def keep_fresh(self) -> None:
        """Run `refresh_due` forever (a task of the operator; an error is logged and the
        loop goes on: the next tick tries again)."""
        tick = min(FRESH_TICK_SECONDS, max(self.settings.resolve_seconds / 2, 0.5))
        while True:
            try:
                await self.refresh_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never its text: it may quote a token
                log.warning("re-resolving revisions failed: %s", type(exc).__name__)
            await asyncio.sleep(tick)

    def source_key(self, key: indexes.Key, spec: ModelDeploymentSpec) -> SourceKey:
        """What a resolve depends on: namespace, endpoint, repo, revision and the token's
        Secret reference. Deployments that share all of it (2,000 on one model) share one
        resolve, each still with its own credentials (the same Secret is the same token)."""
        model, ref = spec.model, spec.model.token_secret_ref
        return (
            key[0],
            self.settings.endpoint_for(model.endpoint),
            model.repo,
            model.revision,
            f"{ref.name}/{ref.key}" if ref else "",
        )

    async def resolve(
        self,
        key: indexes.Key,
        spec: ModelDeploymentSpec,
        previous: ModelDeploymentStatus,
        *,
        slot: int = 0,
    ) -> status_planner.ResolveOutcome:
        """The commit spec.model's revision names (`slot`: which candidate of `key` asks)."""
        model = spec.model
        earlier = previous.resolved_revision if previous.resolved_from == model.revision else None
        source = self.source_key(key, spec)
        self._join((key, slot), spec, source)
        cached = self._resolved.get(source)
        now = time.monotonic()
        if cached is not None:
            if _pinned(cached, spec):
                return cached.outcome  # a pinned commit never moves: resolved once
            if now - cached.at < self._wait(cached):
                return status_planner.ResolveOutcome(
                    # A failed resolve keeps each deployment on the commit it had.
                    cached.outcome.commit if cached.outcome.error is None else earlier,
                    cached.outcome.revision,
                    cached.outcome.error,
                    cached.outcome.retryable,
                )
        outcome = await self.ask_hub(key, spec, earlier)
        self._resolved[source] = _Resolved(outcome, now)
        if len(self._resolved) > PRUNE_ABOVE:
            stale = now - 4 * max(self.settings.resolve_seconds, RETRY_RESOLVE_SECONDS)
            self._resolved = {
                k: v for k, v in self._resolved.items() if v.at >= stale or k in self._users
            }
        return outcome

    async def ask_hub(
        self, key: indexes.Key, spec: ModelDeploymentSpec, earlier: str | None
    ) -> status_planner.ResolveOutcome:
        from modeldeploy.hub.errors import FetchError
        from modeldeploy.hub.resolve import resolve_revision

        model = spec.model
        started = time.monotonic()
        try:
            token = await self._token(key, spec)
        except kube.KubeError as exc:
            return status_planner.ResolveOutcome(
                earlier, model.revision, ("TokenUnavailable", str(exc)), True
            )
        try:
            commit = await asyncio.to_thread(
                resolve_revision,
                model.repo,
                model.revision,
                endpoint=self.settings.endpoint_for(model.endpoint),
                token=token,
            )
        except FetchError as exc:
            error = (exc.reason.value, redact(exc.message, token))
            return status_planner.ResolveOutcome(earlier, model.revision, error, exc.retryable)
        except Exception as exc:  # the hub client may raise anything on a broken network
            # Its text goes to status and an Event; a client may quote the token in it
            # (e.g. "Illegal header value b'Bearer hf_...'").
            error = ("NetworkError", redact(f"{type(exc).__name__}: {exc}", token))
            return status_planner.ResolveOutcome(earlier, model.revision, error, True)
        return status_planner.ResolveOutcome(
            commit, model.revision, None, False, time.monotonic() - started
        )

    async def _token(self, key: indexes.Key, spec: ModelDeploymentSpec) -> str | None:
        ref = spec.model.token_secret_ref
        if ref is None:
            return None
        return await self._kube.read_secret_key(namespace=key[0], name=ref.name, key=ref.key)

    async def weight_bytes(
        self, key: indexes.Key, spec: ModelDeploymentSpec, commit: str | None
    ) -> int | None:
        """Bytes of weights at the target dtype, from safetensors headers (once per commit)."""
        if commit is None:
            return None
        endpoint = self.settings.endpoint_for(spec.model.endpoint)
        cache_key = (spec.model.repo, commit, spec.runtime.dtype.value, endpoint)
        if cache_key not in self._estimates:
            self._estimates[cache_key] = await self.ask_size(key, spec, commit, endpoint)
        return self._estimates[cache_key]

    async def ask_size(
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


def _pinned(resolved: _Resolved, spec: ModelDeploymentSpec) -> bool:
    outcome = resolved.outcome
    return outcome.error is None and outcome.commit == spec.model.revision


def _answer(outcome: status_planner.ResolveOutcome) -> tuple[object, ...]:
    """What a deployment reads of a resolve: the commit, or the failure's reason."""
    return (outcome.commit, outcome.error[0] if outcome.error else None, outcome.retryable)


def redact(text: str, token: str | None) -> str:
    """`text` with the token replaced (messages reach status, Events and logs)."""
    return text.replace(token, "<token>") if token else text
