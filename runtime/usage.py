"""How much this runtime has served: the `usage` object of `GET /status`.

    "usage": {"requests": 12, "lastRequestAt": "2025-01-02T03:04:05.678901+00:00" | null}

`requests` counts the `/v1/*` requests that completed with a 2xx since the process started;
`lastRequestAt` is when the last of them completed (ISO 8601, UTC, as `history[].at`). Why
only those: the operator adds these up across restarts into the model cache's usage record,
and retention evicts a model that nobody has used for a while, so only real traffic may keep
a model alive. Probes, `/status` and `/metrics` are polled by machines every few seconds, and
a refused request (4xx/5xx: not ready, a bad body) served nothing. A streamed completion
counts once its stream has ended.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Middleware

from modeldeploy.runtime_report import UsageDocument

SERVED_PREFIX = "/v1/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Usage:
    """Served-request count and last time; safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._last: datetime | None = None

    def record(self) -> None:
        with self._lock:
            self._requests += 1
            self._last = datetime.now(UTC)

    def to_json(self) -> UsageDocument:
        with self._lock:
            last = self._last.isoformat() if self._last else None
            return {"requests": self._requests, "lastRequestAt": last}


def counts(path: str, status: int) -> bool:
    """Whether a request for `path` that ended with `status` is served usage."""
    return path.startswith(SERVED_PREFIX) and 200 <= status < 300


def middleware(usage: Usage) -> Middleware:
    """Record each request that `counts`, after its handler has finished the response."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if counts(request.path, response.status):
            usage.record()
        return response

    return record
