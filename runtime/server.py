"""The aiohttp application: one router module per concern, wired to one RuntimeContext.

Routers: `health` (probes), `status` (/status, /status/stream), `page` (/, the status page for
people), `metrics` (/metrics and the request-metrics middleware), `openai` (/v1/models,
/v1/completions, /v1/embeddings and what every /v1 route shares), `routes.chat`
(/v1/chat/completions, on `openai`'s shared steps); with `--engine vllm`, `engines.vllm.bridge`
takes every /v1 path instead (vLLM's own API, relayed); `usage`
adds the middleware that counts served requests for /status, `waiting` the one that lets a
/v1 request wait for Ready (`--queue-while-loading`), innermost so both count it. The app
holds no model logic; it reads the state machine and hands torch work to the engine thread.
"""

from __future__ import annotations

from aiohttp import web

from modeldeploy.runtime import auth, health, page, status, usage, waiting
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.metrics import RuntimeMetrics
from modeldeploy.runtime.openai import OpenAIRoutes
from modeldeploy.runtime.routes import chat

CONTEXT: web.AppKey[RuntimeContext] = web.AppKey("context", RuntimeContext)
OPENAI: web.AppKey[OpenAIRoutes] = web.AppKey("openai", OpenAIRoutes)


def build_app(ctx: RuntimeContext) -> web.Application:
    metrics = RuntimeMetrics(ctx)
    queue = waiting.ReadyQueue(ctx)
    app = web.Application(
        middlewares=[
            metrics.middleware(),
            auth.middleware(ctx.config.api_key_file),
            usage.middleware(ctx.usage),
            queue.middleware(),
        ],
        client_max_size=16 * 2**20,
    )
    app[CONTEXT] = ctx
    app[status.STREAMS] = set()
    health.attach(app, ctx)
    status.attach(app, ctx)
    page.attach(app)
    queue.attach(app)
    if ctx.config.engine == "vllm":  # its own OpenAI API, relayed after the runtime's checks
        from modeldeploy.runtime.engines.vllm.bridge import Bridge

        bridge = Bridge(ctx)
        bridge.attach(app)
        metrics.attach(app, engine=bridge.engine_metrics)
    else:
        metrics.attach(app)
        routes = OpenAIRoutes(ctx)  # serving metrics come from the scheduler (ctx)
        routes.attach(app)
        chat.ChatRoute(routes).attach(app)
        app[OPENAI] = routes
    app.on_shutdown.append(status.close_streams)
    return app
