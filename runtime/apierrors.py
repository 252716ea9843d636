"""OpenAI's error shape, written in one place for every refusal under `/v1/*`.

    {"error": {"message": "...", "type": "invalid_request_error", ...extra fields}}

with the status code (400 bad request, 404 unknown model, 429 full queue, 503 not ready)
and, where the client should come back later, a `Retry-After` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web


def error(
    status: int,
    message: str,
    kind: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body = {"error": {"message": message, "type": kind, **extra}}
    return web.json_response(body, status=status, headers=headers)


class ServingError(Exception):
    """A `/v1` request ends with this response (raised anywhere below a route's handler)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response
