"""Kubernetes probes and their KServe v2 aliases. They read the state machine and nothing else.

- `/livez` — 200 while the process can make progress, whatever the model is doing (a pod that
  is still loading must not be killed for it); 503 only once Failed (a fatal fault).
- `/startupz` — 200 once the runtime has been Ready; 503 with JSON progress before.
- `/readyz` — 200 only in Ready (weights on the device, warm-up passed, not draining);
  otherwise 503 with `{state, progress, reason}`.

Handlers are tiny and never touch torch, so they answer in milliseconds while loading runs on
its worker thread.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.state import Snapshot, State

PROBE_PATHS = frozenset({"/livez", "/startupz", "/readyz", "/v2/health/live", "/v2/health/ready"})


def is_probe(path: str) -> bool:
    return path in PROBE_PATHS or (path.startswith("/v2/models/") and path.endswith("/ready"))


def _body(snap: Snapshot) -> dict[str, Any]:
    return {"state": snap.state.value, "progress": round(snap.progress, 6), "reason": snap.reason}


def liveness(ctx: RuntimeContext) -> web.Response:
    snap = ctx.machine.snapshot()
    status = 503 if snap.state is State.FAILED else 200
    return web.json_response(_body(snap), status=status)


def startup(ctx: RuntimeContext) -> web.Response:
    snap = ctx.machine.snapshot()
    was_ready = any(t.state is State.READY for t in snap.history)
    status = 200 if was_ready and snap.state is not State.FAILED else 503
    return web.json_response(_body(snap), status=status)


def readiness(ctx: RuntimeContext) -> web.Response:
    snap = ctx.machine.snapshot()
    status = 200 if snap.state is State.READY else 503
    return web.json_response(_body(snap), status=status)


def attach(app: web.Application, ctx: RuntimeContext) -> None:
    async def livez(_request: web.Request) -> web.Response:
        return liveness(ctx)

    async def startupz(_request: web.Request) -> web.Response:
        return startup(ctx)

    async def readyz(_request: web.Request) -> web.Response:
        return readiness(ctx)

    async def model_ready(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ctx.served_names:
            return web.json_response({"error": f"no model named {name!r}"}, status=404)
        return readiness(ctx)

    app.router.add_get("/livez", livez)
    app.router.add_get("/startupz", startupz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/v2/health/live", livez)
    app.router.add_get("/v2/health/ready", readyz)
    app.router.add_get("/v2/models/{name:.+}/ready", model_ready)
