"""`GET /`: the status page for a person watching a model start (or fail).

One self-contained HTML document (`page_html.TEMPLATE`: inline CSS and JavaScript, nothing
fetched from elsewhere) that follows `/status/stream` live. It reads only what `/status`
already reports, so it shows nothing the operator or a script could not see too. Reached
through the `<name>-wait` Service (which also routes to pods that are not Ready) or
`kubectl port-forward`.

The page takes the runtime's state names, reasons and timings keys from
`modeldeploy.runtime_report`, the one definition the runtime and the operator share: `PAGE` is
the template with that `vocabulary()` written in, built once when this module is imported.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from modeldeploy import runtime_report
from modeldeploy.runtime import page_html


def vocabulary() -> dict[str, Any]:
    """What the page's script calls `V`: states and reasons by member name, the phases with
    their `timings` keys in the order they happen, and the start-to-Ready key."""
    return {
        "states": {state.name: state.value for state in runtime_report.State},
        "reasons": {reason.name: reason.value for reason in runtime_report.Reason},
        "phases": [
            [state.value, runtime_report.SECONDS_IN[state]]
            for state in runtime_report.ROAD_TO_READY
            if state in runtime_report.SECONDS_IN
        ],
        "startupSeconds": runtime_report.STARTUP_SECONDS,
    }


def build(template: str = page_html.TEMPLATE) -> str:
    """The template with the vocabulary in its slot (`</` escaped: it sits inside <script>)."""
    if template.count(page_html.VOCABULARY_SLOT) != 1:
        raise ValueError("the status page template must hold exactly one vocabulary slot")
    data = json.dumps(vocabulary(), sort_keys=True).replace("</", "<\\/")
    return template.replace(page_html.VOCABULARY_SLOT, data)


PAGE = build()


async def index(_request: web.Request) -> web.Response:
    return web.Response(
        text=PAGE,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def attach(app: web.Application) -> None:
    app.router.add_get("/", index)
