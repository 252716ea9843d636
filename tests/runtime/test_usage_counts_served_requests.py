"""`/status` reports usage: /v1 requests served with a 2xx since start, and the last one's time.

Only real traffic counts (retention keeps a model on the cache while it is used): not the
warm-up, probes, /status, /metrics, nor a refused request (503 before Ready, 4xx).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.runtime import servers

COMPLETION = {"prompt": "hello", "temperature": 0, "max_tokens": 2}


@pytest.fixture(scope="module")
def fresh_server(
    tiny_lm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.Serve]:
    """A runtime of its own (the shared one has served other tests); Loading takes ~1 s."""
    serve = servers.start(tiny_lm, tmp_path_factory.mktemp("usage"), slow_storage=0.05)
    try:
        yield serve
    finally:
        serve.stop()


def usage(server: servers.Serve) -> Any:
    return server.get("/status").json()["usage"]


def usage_after(server: servers.Serve, requests: int) -> Any:
    """Usage once it counts `requests` (a stream is counted just after its last byte)."""
    deadline = time.monotonic() + 10
    while (doc := usage(server))["requests"] < requests and time.monotonic() < deadline:
        time.sleep(0.02)
    return doc


def served_at(doc: Any) -> datetime:
    at = datetime.fromisoformat(doc["lastRequestAt"])
    assert at.utcoffset() == timedelta(0), doc
    return at


def test_refused_and_unserved_requests_do_not_count(fresh_server: servers.Serve) -> None:
    fresh_server.wait_state("Loading")
    assert fresh_server.post("/v1/completions", COMPLETION).status == 503
    fresh_server.wait_state("Ready")
    for path in ("/livez", "/readyz", "/startupz", "/v2/health/ready", "/status", "/metrics"):
        assert fresh_server.get(path).status == 200, path
    refused = [
        fresh_server.post("/v1/completions", {"max_tokens": 2}),  # no prompt
        fresh_server.post("/v1/completions", {**COMPLETION, "model": "other"}),
        fresh_server.post("/v1/embeddings", {"input": "x"}),  # wrong task
        fresh_server.get("/v1/nothing-here"),
    ]
    assert [r.status for r in refused] == [400, 404, 400, 404]
    assert usage(fresh_server) == {"requests": 0, "lastRequestAt": None}


def test_each_served_request_counts_once(fresh_server: servers.Serve) -> None:
    fresh_server.wait_state("Ready")
    start = usage(fresh_server)["requests"]
    before = datetime.now(UTC)
    assert fresh_server.post("/v1/completions", COMPLETION).status == 200
    first = usage(fresh_server)
    assert first["requests"] == start + 1
    assert before <= served_at(first) <= datetime.now(UTC)

    assert fresh_server.get("/v1/models").status == 200
    assert stream_completion(fresh_server) == "data: [DONE]"
    last = usage_after(fresh_server, start + 3)
    assert last["requests"] == start + 3
    assert served_at(last) >= served_at(first)


def stream_completion(server: servers.Serve) -> str:
    """A streamed completion, read to its end; returns the last data line."""
    request = urllib.request.Request(
        server.url + "/v1/completions",
        data=json.dumps({**COMPLETION, "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with servers.urlopen(request, timeout=30) as resp:
        lines = [str(raw, "utf-8").strip() for raw in resp if raw.strip()]
    return lines[-1]
