"""HTTP answers with their headers and the moment they were asked (for `Retry-After` checks).

`servers.Serve.request` keeps status and body only; the waiting tests also read headers and
compare the wall-clock time a question was asked with the `at` of a later transition.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Any

from tests.runtime.servers import Serve, urlopen


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes
    asked_at: float  # time.time() when the request was sent
    seconds: float  # until the whole answer was read

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def retry_after(self) -> int | None:
        value = self.headers.get("Retry-After")
        return None if value is None else int(value)


def ask(serve: Serve, method: str, path: str, body: Any = None, *, timeout: float = 120) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(serve.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    asked_at, started = time.time(), time.perf_counter()
    try:
        with urlopen(request, timeout=timeout) as response:
            status, headers, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, headers, payload = exc.code, exc.headers, exc.read()
    return Answer(status, headers, payload, asked_at, time.perf_counter() - started)


def transition_time(status: dict[str, Any], state: str) -> float:
    """The wall-clock time (time.time()) of the first move into `state` in /status history."""
    entry = next(h for h in status["history"] if h["state"] == state)
    return datetime.fromisoformat(entry["at"]).timestamp()
