"""What a `/v1/*` request meets before Ready: an honest answer, or a bounded wait for Ready.

The answer (`not_ready`): 503 in OpenAI's error shape with the state, and
- before Ready (Starting … WarmingUp): `Retry-After` (whole seconds, at least 1) from the
  estimate of `eta`, and in the body `retryAfterSeconds`, `etaSeconds` (null while nothing
  can be measured yet) and `phases` (each phase still ahead: seconds and basis);
- while Draining: `Retry-After: 1` (this process will not serve again; another replica will);
- once Failed: no `Retry-After` (this process will never be ready; the body carries the
  reason, as it always did).

The wait (`ReadyQueue`, with `--queue-while-loading SECONDS`): a `/v1/*` request that arrives
before Ready waits up to SECONDS for the state to leave the road to Ready, then goes to its
handler, which serves it (Ready), gives the failure answer (Failed) or the 503 above (still
loading, or Draining). At most `--max-queue` requests wait at once; one more is answered at
once with 429 and `Retry-After` (the estimate). A client that hangs up stops waiting. Probes,
`/status` and `/metrics` never wait: only `/v1/*` routes that exist do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from modeldeploy.runtime.apierrors import error
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.eta import LOADING_STATES, Estimate
from modeldeploy.runtime.state import Snapshot, State

SERVED_PREFIX = "/v1/"
DRAINING_RETRY_SECONDS = 1
HANG_UP_CHECK_SECONDS = 0.5  # how often a waiting request looks for a client that left
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def not_ready(ctx: RuntimeContext) -> web.Response:
    """The 503 for a request the runtime cannot serve now (see the module doc)."""
    snap = ctx.machine.snapshot()
    message = f"the model is not ready (state {snap.state.value})"
    fields: dict[str, Any] = {
        "state": snap.state.value,
        "progress": round(snap.progress, 6),
        "reason": snap.reason,
    }
    estimate = ctx.estimate(snap)
    if estimate is not None:
        return error(
            503,
            f"{message}; {_when(estimate)}",
            "service_unavailable",
            headers={"Retry-After": str(estimate.retry_after)},
            **fields,
            **_estimate_fields(estimate),
        )
    if snap.state is State.DRAINING:
        retry = DRAINING_RETRY_SECONDS
        return error(
            503,
            f"{message}; this replica is shutting down, retry in {retry} s",
            "service_unavailable",
            headers={"Retry-After": str(retry)},
            retryAfterSeconds=retry,
            **fields,
        )
    return error(503, message, "service_unavailable", **fields)


def queue_full(ctx: RuntimeContext) -> web.Response:
    """429 at once: `--max-queue` requests already wait for Ready."""
    snap = ctx.machine.snapshot()
    estimate = ctx.estimate(snap) or Estimate(None, ())
    return error(
        429,
        f"{ctx.waiting} requests already wait for the model to be ready (the limit, "
        f"--max-queue {ctx.config.max_queue}); {_when(estimate)}",
        "rate_limit_exceeded",
        headers={"Retry-After": str(estimate.retry_after)},
        code="queue_full",
        state=snap.state.value,
        **_estimate_fields(estimate),
    )


def _when(estimate: Estimate) -> str:
    if estimate.seconds is None:
        return f"no estimate yet, retry in {estimate.retry_after} s"
    return f"ready in about {estimate.retry_after} s"


def _estimate_fields(estimate: Estimate) -> dict[str, Any]:
    seconds = None if estimate.seconds is None else round(estimate.seconds, 3)
    return {
        "retryAfterSeconds": estimate.retry_after,
        "etaSeconds": seconds,
        "phases": [p.to_json() for p in estimate.phases],
    }


class ReadyQueue:
    """The bounded wait for Ready (`--queue-while-loading`, `--max-queue`)."""

    def __init__(self, ctx: RuntimeContext) -> None:
        self.ctx = ctx
        self.seconds = ctx.config.queue_while_loading
        self.limit = ctx.config.max_queue
        self._settled: asyncio.Event | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, app: web.Application) -> None:
        app.on_cleanup.append(self._close)

    def middleware(self) -> Middleware:
        @web.middleware
        async def admit(request: web.Request, handler: Handler) -> web.StreamResponse:
            if self._applies(request):
                if self.ctx.waiting >= self.limit:
                    return queue_full(self.ctx)
                self.ctx.waiting += 1
                try:
                    await self._until_settled(request)
                finally:
                    self.ctx.waiting -= 1
            return await handler(request)

        return admit

    def _applies(self, request: web.Request) -> bool:
        return (
            self.seconds > 0
            and request.path.startswith(SERVED_PREFIX)
            and request.match_info.http_exception is None  # an unknown path: 404 at once
            and self.ctx.machine.state in LOADING_STATES
        )

    async def _until_settled(self, request: web.Request) -> None:
        """Return when Ready, Failed or Draining, after `seconds`, or when the client left."""
        settled = self._event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        while not settled.is_set():
            left = deadline - loop.time()
            if left <= 0 or request.transport is None or request.transport.is_closing():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, HANG_UP_CHECK_SECONDS)):
                    await settled.wait()

    def _event(self) -> asyncio.Event:
        """Set (on the event loop) once the state leaves the road to Ready."""
        if self._settled is None:
            loop = asyncio.get_running_loop()
            settled = self._settled = asyncio.Event()

            def on_change(snap: Snapshot) -> None:
                if snap.state not in LOADING_STATES:
                    loop.call_soon_threadsafe(settled.set)

            self._unsubscribe = self.ctx.machine.subscribe(on_change)
            if self.ctx.machine.state not in LOADING_STATES:
                settled.set()
        return self._settled

    async def _close(self, _app: web.Application) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
