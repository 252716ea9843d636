"""SIGTERM: Draining at once (/readyz 503, new requests 503), in-flight requests finish, exit 0.
SIGTERM during Loading stops the load instead of waiting for it."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from tests.runtime import servers


def test_in_flight_request_finishes_and_exit_is_zero(tiny_lm: Path, tmp_path: Path) -> None:
    serve = servers.start(tiny_lm, tmp_path)
    try:
        serve.wait_listening()
        stream = serve.record_stream()
        serve.wait_state("Ready")
        body = {
            "prompt": "hi",
            "max_tokens": 200,
            "temperature": 0,
            "stream": True,
            "ignore_eos": True,
        }
        request = urllib.request.Request(
            serve.url + "/v1/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        lines: list[str] = []
        with servers.urlopen(request, timeout=60) as resp:
            lines.append(resp.readline().decode())  # the first token is out: in flight
            serve.sigterm()
            deadline = time.monotonic() + 10
            readyz = serve.get("/readyz")
            while readyz.json()["state"] != "Draining" and time.monotonic() < deadline:
                readyz = serve.get("/readyz")
            assert readyz.status == 503 and readyz.json()["state"] == "Draining"
            assert serve.get("/livez").status == 200
            refused = serve.post("/v1/completions", {"prompt": "x", "max_tokens": 1})
            assert refused.status == 503 and refused.json()["error"]["state"] == "Draining"
            lines += [raw.decode() for raw in resp]
        chunks = [json.loads(x[6:]) for x in lines if x.startswith("data: {")]
        assert lines[-2].strip() == "data: [DONE]" or lines[-1].strip() == "data: [DONE]"
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
        assert serve.wait_exit(timeout=60) == 0
        assert "drained; exiting" in serve.log()
        assert not serve.termination_log.exists()
        stream.join(timeout=10)
        assert not stream.is_alive(), "the status stream was not closed at shutdown"
        states = [e["state"] for e in serve.events]
        assert "Ready" in states and states[-1] == "Draining"
    finally:
        serve.stop()


def test_sigterm_during_loading_cancels_promptly(loading_lm: Path, tmp_path: Path) -> None:
    """With 0.3 s per tensor the load would take ~10 s more; SIGTERM must end it at once."""
    serve = servers.start(loading_lm, tmp_path, slow_storage=0.3)
    try:
        serve.wait_listening()
        for event in serve.stream():
            if event["state"] == "Loading" and event["progressDetail"].get("bytesDone", 0) > 0:
                total = event["progressDetail"]["bytesTotal"]
                break
        sent = time.monotonic()
        serve.sigterm()
        assert serve.wait_exit(timeout=60) == 0
        elapsed = time.monotonic() - sent
        log = serve.log()
        assert "state Draining" in log
        assert "state WarmingUp" not in log and "state Ready" not in log
        assert elapsed < 3.0, f"took {elapsed:.1f}s to stop"
        assert total > 30e6
    finally:
        serve.stop()
