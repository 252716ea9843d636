"""`--request-timeout` with a real vLLM engine: answers past their deadline are 504, streams
end with the error as their last event, and the engine stops the requests (no tokens made for
nobody). One start: `--max-batch 1` (vLLM's --max-num-seqs=1) queues the requests inside the
engine behind each other, so the later ones outlive a 1 s deadline on any machine."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime import servers, vllm_engine

pytestmark = pytest.mark.slow

LONG = {"model": "tiny", "prompt": "hello", "max_tokens": 240, "ignore_eos": True}
CONCURRENT = 4  # one runs, three wait inside the engine: 960 decode steps in all


@pytest.fixture(scope="module")
def server(tiny_vllm_lm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Serve]:
    serve = vllm_engine.start(
        tiny_vllm_lm, tmp_path_factory.mktemp("vllm-deadline"), "--served-model-name", "tiny",
        "--request-timeout", "1", "--max-batch", "1", vllm_engine.EAGER,
    )  # fmt: skip
    try:
        serve.wait_state("Ready", timeout=vllm_engine.START_SECONDS)
        yield serve
    finally:
        serve.stop()


def post(serve: servers.Serve, body: dict[str, object]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        serve.url + "/v1/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with servers.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def together(serve: servers.Serve, body: dict[str, object]) -> list[tuple[int, bytes, float]]:
    answers: list[tuple[int, bytes, float]] = []

    def one() -> None:
        started = time.monotonic()
        status, data = post(serve, body)
        answers.append((status, data, time.monotonic() - started))

    threads = [threading.Thread(target=one) for _ in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return answers


def engine_idle(serve: servers.Serve) -> None:
    deadline = time.monotonic() + 60
    while True:
        text = serve.get("/metrics").body.decode()
        running = [line for line in text.splitlines() if line.startswith("vllm:num_requests_")]
        if running and all(float(line.split()[-1]) == 0 for line in running):
            return
        assert time.monotonic() < deadline, running
        time.sleep(0.1)


def test_whole_answers_past_the_deadline_are_504_and_the_engine_lets_them_go(
    server: servers.Serve,
) -> None:
    answers = together(server, LONG)
    late = [(data, seconds) for status, data, seconds in answers if status == 504]
    assert late, [(status, seconds) for status, _, seconds in answers]
    for data, seconds in late:
        assert json.loads(data)["error"]["type"] == "timeout"
        assert seconds < 10, seconds  # answered at the deadline, not when the engine finished
    assert {status for status, _, _ in answers} <= {200, 504}
    engine_idle(server)  # the engine dropped them: nothing left running or waiting in it


def test_streams_past_the_deadline_end_with_the_error_as_their_last_event(
    server: servers.Serve,
) -> None:
    answers = together(server, {**LONG, "stream": True})
    assert all(status == 200 for status, _, _ in answers)  # the status line went first
    ended = []
    for _, data, _ in answers:
        events = [line[6:] for line in data.decode().splitlines() if line.startswith("data: ")]
        if events[-1] != "[DONE]":
            ended.append(json.loads(events[-1]))
    assert ended, "no stream outlived the deadline"
    assert all(event["error"]["type"] == "timeout" for event in ended), ended
    engine_idle(server)
