"""`serve --engine vllm` with a real vLLM engine process: one start shared by these tests.

Seen from outside as kubelet and the operator see it: the states in order with Loading's
progress from the engine's own load events, `/readyz` 503 until the warm-up request passed,
OpenAI requests answered by vLLM through the runtime's port, the engine's metrics beside the
runtime's without a family twice, and (last) SIGTERM: the stream in flight finishes, then the
engine's whole process group is gone and the runtime exits 0.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime import servers, vllm_engine

pytestmark = pytest.mark.slow


class Watch:
    """Polls /readyz, then /status, from the runtime's start: (readyz code, state after)."""

    def __init__(self, serve: servers.Serve) -> None:
        self.serve = serve
        self.samples: list[tuple[int, str]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.done.is_set():
            try:
                ready = self.serve.get("/readyz", timeout=5).status
                state = self.serve.get("/status", timeout=5).json()["state"]
            except OSError:
                time.sleep(0.05)
                continue
            self.samples.append((ready, state))
            time.sleep(0.05)


@pytest.fixture(scope="module")
def model(tiny_vllm_lm: Path) -> Path:
    return tiny_vllm_lm


@pytest.fixture(scope="module")
def started(
    model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[servers.Serve, Watch]]:
    serve = vllm_engine.start(
        model, tmp_path_factory.mktemp("vllm-server"), "--served-model-name", "tiny",
        vllm_engine.EAGER,
    )  # fmt: skip
    try:
        serve.wait_listening()
        serve.record_stream()
        watch = Watch(serve)
        serve.wait_state("Ready", timeout=vllm_engine.START_SECONDS)
        time.sleep(0.3)  # a few samples after Ready too
        watch.done.set()
        yield serve, watch
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def server(started: tuple[servers.Serve, Watch]) -> servers.Serve:
    return started[0]


def test_states_follow_the_road_to_ready_with_the_engines_own_steps(
    started: tuple[servers.Serve, Watch],
) -> None:
    serve, _ = started
    history = [h["state"] for h in serve.get("/status").json()["history"]]
    assert history == ["Starting", "Verifying", "Loading", "WarmingUp", "Ready"], history
    seen = list(dict.fromkeys(e["state"] for e in serve.events))
    assert seen[-3:] == ["Loading", "WarmingUp", "Ready"], seen  # as the stream told it
    loading = [e for e in serve.events if e["state"] == "Loading"]
    progress = [e["progress"] for e in loading]
    assert progress == sorted(progress), "Loading's progress went back"
    steps = {e["progressDetail"].get("step") for e in loading}
    engine_steps = {s for s in steps if s and s.startswith("vLLM: ")}
    assert len(engine_steps) >= 3, steps
    assert "vLLM: answering /health" in engine_steps


def test_readyz_is_503_until_the_warmup_request_passed(
    started: tuple[servers.Serve, Watch],
) -> None:
    serve, watch = started
    assert watch.samples, "no probe was answered during the start"
    before = [code for code, state in watch.samples if state != "Ready"]
    assert before and set(before) == {503}, watch.samples[:20]
    for code, state in watch.samples:
        if code == 200:
            assert state == "Ready"  # read after the probe: Ready never comes back to WarmingUp
    status = serve.get("/status").json()
    assert status["warmup"]["ok"] is True and status["warmup"]["tokens"] >= 1
    assert status["timings"]["warmupSeconds"] is not None
    warming = [e for e in serve.events if e["state"] == "WarmingUp"]
    assert warming, "WarmingUp was never reported"


def test_status_names_the_engine_and_what_it_runs_on(server: servers.Serve) -> None:
    status = server.get("/status").json()
    engine = status["engine"]
    assert engine["name"] == "vllm" and engine["exitCode"] is None
    assert "--enforce-eager" in engine["args"] and "--max-num-seqs=256" in engine["args"]
    assert engine["platform"] == "cpu" and status["device"] == "cpu"
    assert status["model"]["architecture"] == "LlamaForCausalLM"
    assert status["model"]["task"] == "text-generation"
    assert status["verified"] is True
    assert status["serving"]["batching"] == "vllm" and status["serving"]["maxBatch"] == 256


def test_a_chat_completion_is_answered_by_the_engine_through_the_runtime(
    server: servers.Serve,
) -> None:
    reply = server.post(
        "/v1/chat/completions",
        {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4},
    )
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["object"] == "chat.completion" and body["model"] == "tiny"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] == 4
    assert body["system_fingerprint"].startswith("vllm-")


def test_the_repo_name_is_served_too_and_an_unknown_model_is_refused(
    server: servers.Serve,
) -> None:
    ok = server.post(
        "/v1/completions", {"model": "tests/tiny-vllm", "prompt": "hello", "max_tokens": 2}
    )
    assert ok.status == 200, ok.body
    unknown = server.post("/v1/completions", {"model": "other", "prompt": "x", "max_tokens": 1})
    assert unknown.status == 404


def test_a_streamed_completion_arrives_chunk_by_chunk(server: servers.Serve) -> None:
    request = urllib.request.Request(
        server.url + "/v1/completions",
        data=json.dumps(
            {"model": "tiny", "prompt": "hello", "max_tokens": 6, "stream": True}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with servers.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        lines = [raw.decode().strip() for raw in response if raw.strip()]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert len(chunks) >= 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_metrics_hold_the_engines_families_and_none_twice(server: servers.Serve) -> None:
    server.post("/v1/completions", {"model": "tiny", "prompt": "hi", "max_tokens": 2})
    text = server.get("/metrics").body.decode()
    declared = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(declared) == len(set(declared)), [n for n in declared if declared.count(n) > 1]
    assert "vllm:generation_tokens_total" in declared
    assert "modeldeploy_requests_total" in declared
    assert "process_cpu_seconds_total" in declared  # the runtime's own, once
    assert 'path="/v1/completions"' in text


def engine_figure(server: servers.Serve, family: str) -> float:
    """The sum of a family's samples in the engine's metrics, read through /metrics."""
    text = server.get("/metrics").body.decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(family))


def test_a_client_that_hangs_up_mid_stream_stops_its_generation(server: servers.Serve) -> None:
    """240 tokens asked (no early end): the client leaves after the first chunk, and the
    engine stops the request then, well short of 240 tokens."""
    before = engine_figure(server, "vllm:generation_tokens_total")
    body = {"model": "tiny", "prompt": "hello", "max_tokens": 240, "stream": True,
            "ignore_eos": True}  # fmt: skip
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as connection:
        connection.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )  # fmt: skip
        received = b""
        while b"data: " not in received:  # the head, then the first chunk: hang up
            more = connection.recv(65536)
            assert more, received
            received += more
    deadline = time.monotonic() + 60
    while engine_figure(server, "vllm:num_requests_running") > 0:
        assert time.monotonic() < deadline, "the engine kept running the abandoned request"
        time.sleep(0.1)
    generated = engine_figure(server, "vllm:generation_tokens_total") - before
    assert 1 <= generated < 240, generated
    assert server.get("/status").json()["serving"]["running"] == 0


def test_sigterm_finishes_the_stream_in_flight_then_stops_the_engine(
    server: servers.Serve,
) -> None:
    """Last in this file: it ends the shared runtime."""
    pid = server.get("/status").json()["engine"]["pid"]
    request = urllib.request.Request(
        server.url + "/v1/completions",
        data=json.dumps(
            {"model": "tiny", "prompt": "hello", "max_tokens": 200, "stream": True,
             "ignore_eos": True}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    lines: list[str] = []
    first = threading.Event()

    def read() -> None:
        with servers.urlopen(request, timeout=120) as response:
            for raw in response:
                if raw.strip():
                    lines.append(raw.decode().strip())
                    first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first.wait(60), "the stream never started"
    server.sigterm()
    reader.join(120)
    assert lines[-1] == "data: [DONE]", lines[-3:]
    tokens = [json.loads(line[6:]) for line in lines[:-1]]
    assert tokens[-1]["choices"][0]["finish_reason"] == "length"
    assert server.wait_exit(timeout=120) == 0
    assert vllm_engine.live_members(pid) == [], "the engine's group outlived the runtime"
    log = server.log()
    assert "the vLLM engine stopped" in log
