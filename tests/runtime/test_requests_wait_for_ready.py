"""`serve --queue-while-loading SECONDS --max-queue N`: a `/v1/*` request that arrives before
Ready waits for Ready (up to SECONDS) and is then served; one more than N waiting is answered
429 with `Retry-After` at once; a wait that runs out gets the 503 with `Retry-After`; a start
that fails meanwhile gives the waiting request the failure answer; a client that hangs up
stops waiting. Probes, /status and /metrics never wait, and the number waiting is a gauge on
/metrics."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from modeldeploy.cli.main import main
from tests.runtime import servers, slow_link
from tests.runtime.http_answers import Answer, ask, transition_time
from tests.support.hubserver import HubServer

COMPLETION = {"prompt": "hello", "max_tokens": 4}
WAITING_GAUGE = re.compile(r"^modeldeploy_requests_waiting_for_ready (\S+)$", re.MULTILINE)


def start_fetching(hub: HubServer, model_dir: Path, tmp: Path, *args: str) -> servers.Serve:
    serve = servers.start(
        tmp / "model", tmp, "--repo", slow_link.REPO, "--endpoint", hub.endpoint, *args
    )
    serve.wait_listening()
    serve.wait_state("Fetching", timeout=60)
    return serve


def waiting_gauge(serve: servers.Serve) -> float:
    match = WAITING_GAUGE.search(serve.get("/metrics").body.decode())
    assert match is not None
    return float(match[1])


def hang_up_while_waiting(serve: servers.Serve) -> None:
    """Send a request, see it wait, close the connection: it stops waiting."""
    body = json.dumps(COMPLETION).encode()
    head = (
        f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as client:
        client.sendall(head.encode() + body)
        wait_for_gauge(serve, 1)
    wait_for_gauge(serve, 0, timeout=2)  # long before Ready (the download takes 6 s)


def wait_for_gauge(serve: servers.Serve, value: float, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while waiting_gauge(serve) != value:
        assert time.monotonic() < deadline, f"never {value} waiting"
        time.sleep(0.05)


def in_background(serve: servers.Serve, answers: list[Answer]) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: answers.append(ask(serve, "POST", "/v1/completions", COMPLETION)),
        daemon=True,
    )
    thread.start()
    return thread


def test_waiting_requests_are_served_once_ready_and_one_too_many_is_refused_at_once(
    tiny_lm: Path, tmp_path: Path
) -> None:
    with HubServer() as hub:
        slow_link.host(hub, tiny_lm)
        slow_link.throttle(hub, tiny_lm, seconds=6)
        serve = start_fetching(
            hub, tiny_lm, tmp_path, "--queue-while-loading", "120", "--max-queue", "2"
        )
        try:
            hang_up_while_waiting(serve)
            answers: list[Answer] = []
            threads = [in_background(serve, answers) for _ in range(2)]
            wait_for_gauge(serve, 2)
            status = serve.get("/status").json()
            refused = ask(serve, "POST", "/v1/completions", COMPLETION)
            probes = [serve.get(path) for path in ("/readyz", "/livez", "/startupz", "/status")]
            for thread in threads:
                thread.join(timeout=120)
            final = serve.wait_state("Ready")
            gauge_after = waiting_gauge(serve)
        finally:
            serve.stop()
    assert status["state"] == "Fetching" and status["queue"]["waiting"] == 2
    assert refused.status == 429 and refused.seconds < 2.0, refused.seconds
    assert refused.retry_after is not None and refused.retry_after >= 1
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_exceeded" and error["code"] == "queue_full"
    assert error["retryAfterSeconds"] == refused.retry_after and error["state"] == "Fetching"
    assert "--max-queue 2" in error["message"]
    assert [p.status for p in probes] == [503, 200, 503, 200]
    assert all(p.seconds < 2.0 for p in probes), [p.seconds for p in probes]
    ready_at = transition_time(final, "Ready")
    assert len(answers) == 2
    for answer in answers:
        assert answer.status == 200, answer.body
        assert answer.json()["choices"][0]["text"] is not None
        assert answer.asked_at + answer.seconds >= ready_at
    assert gauge_after == 0


def test_a_request_waits_no_longer_than_it_may(tiny_lm: Path, tmp_path: Path) -> None:
    with HubServer() as hub:
        slow_link.host(hub, tiny_lm)
        slow_link.throttle(hub, tiny_lm, seconds=30)
        serve = start_fetching(hub, tiny_lm, tmp_path, "--queue-while-loading", "1.5")
        try:
            answer = ask(serve, "GET", "/v1/models")
        finally:
            serve.stop()
    assert answer.status == 503 and 1.4 <= answer.seconds < 5, answer.seconds
    assert answer.retry_after is not None and answer.retry_after >= 1
    error = answer.json()["error"]
    assert error["state"] == "Fetching" and error["retryAfterSeconds"] == answer.retry_after


def test_a_waiting_request_gets_the_failure_when_the_start_fails(
    tiny_lm: Path, tmp_path: Path
) -> None:
    with HubServer() as hub:
        slow_link.host(hub, tiny_lm)
        slow_link.throttle(hub, tiny_lm, seconds=3)
        serve = start_fetching(
            hub, tiny_lm, tmp_path, "--queue-while-loading", "120",
            "--sha256", f"{slow_link.WEIGHTS}={'0' * 64}",
        )  # fmt: skip
        try:
            answers: list[Answer] = []
            thread = in_background(serve, answers)
            thread.join(timeout=60)
            assert serve.wait_exit(timeout=60) == 1
        finally:
            serve.stop()
    [answer] = answers
    assert answer.status == 503 and answer.seconds < 30
    assert answer.retry_after is None  # this process will not become ready: no coming back
    error = answer.json()["error"]
    assert error["type"] == "service_unavailable"
    assert (error["state"], error["reason"]) == ("Failed", "ChecksumMismatch")


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--queue-while-loading", "-1", "must be 0 or more seconds"),
        ("--queue-while-loading", "soon", "expected a number of seconds"),
        ("--max-queue", "0", "must be at least 1"),
        ("--max-queue", "2.5", "expected a whole number"),
    ],
)
def test_bad_queue_flags_are_usage_errors(
    flag: str, value: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model-dir", str(tmp_path), flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}: '{value}': {says}" in capsys.readouterr().err
