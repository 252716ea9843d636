"""Plain, blocking HTTP to the engine over its Unix socket, for the loader thread.

The loader thread asks two things of the engine before Ready: is its server up (`GET /health`),
and does a real request succeed (the warm-up). The event loop's bridge has its own client
(aiohttp); this one is the standard library's, so the loader needs nothing of the loop's.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    path: Path, method: str, target: str, *, body: Any = None, timeout: float = 5.0
) -> Answer:
    """One request; raises OSError (refused, reset, timed out) when no answer came."""
    connection = _UnixConnection(path, timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, target, body=payload, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.read())
    except http.client.HTTPException as exc:
        raise OSError(f"{method} {target}: {exc!r}") from exc
    finally:
        connection.close()


def healthy(path: Path) -> bool:
    """True when the engine's server answers `/health` with 200."""
    try:
        return request(path, "GET", "/health", timeout=2.0).status == 200
    except OSError:
        return False
