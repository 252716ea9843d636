"""`GET /`: the status page for a person watching a model start (or fail).

One self-contained HTML document (`page_html.PAGE`: inline CSS and JavaScript, nothing
fetched from elsewhere) that follows `/status/stream` live. It reads only what `/status`
already reports, so it shows nothing the operator or a script could not see too. Reached
through the `<name>-wait` Service (which also routes to pods that are not Ready) or
`kubectl port-forward`.
"""

from __future__ import annotations

from aiohttp import web

from modeldeploy.runtime.page_html import PAGE


async def index(_request: web.Request) -> web.Response:
    return web.Response(
        text=PAGE,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def attach(app: web.Application) -> None:
    app.router.add_get("/", index)
