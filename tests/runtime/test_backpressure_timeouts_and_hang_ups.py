"""The serving bounds, end to end through the real app: a full queue answers 429 with
Retry-After, a request past --request-timeout gets 504 (a stream: an error event, then the
end), a client that hangs up frees its slot, and the serving metrics say what happened.

The model is the real tiny Llama loaded in this process; its forward pass is slowed by a test
double standing in for a slow device (`SlowDeviceDouble`), so requests overlap.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.server import build_app
from tests.runtime.inprocess import SlowDeviceDouble, ready_context

LONG = {"prompt": "hello", "max_tokens": 200, "ignore_eos": True}


def slowed(model_dir: Path, seconds: float, **config: Any) -> RuntimeContext:
    ctx = ready_context(model_dir, **config)
    assert ctx.engine is not None
    model = ctx.engine.loaded.model
    model.forward = SlowDeviceDouble(model.forward, seconds)
    return ctx


async def until(condition: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def test_a_full_queue_is_answered_429_with_retry_after(tiny_lm: Path) -> None:
    ctx = slowed(tiny_lm, 0.01, max_batch=1, max_queue=1)

    async def scenario() -> dict[str, Any]:
        async with TestClient(TestServer(build_app(ctx))) as client:
            assert ctx.scheduler is not None
            running = asyncio.create_task(client.post("/v1/completions", json=LONG))
            await until(lambda: ctx.scheduler is not None and ctx.scheduler.running == 1)
            queued = asyncio.create_task(client.post("/v1/completions", json=LONG))
            await until(lambda: ctx.scheduler is not None and ctx.scheduler.waiting == 1)
            refused = await client.post("/v1/completions", json=LONG)
            body = await refused.json()
            serving = (await (await client.get("/status")).json())["serving"]
            for task in (running, queued):
                task.cancel()
            return {
                "status": refused.status,
                "headers": refused.headers,
                "body": body,
                "serving": serving,
            }

    seen = asyncio.run(scenario())
    assert seen["status"] == 429
    assert int(seen["headers"]["Retry-After"]) >= 1
    error = seen["body"]["error"]
    assert error["type"] == "rate_limit_exceeded" and error["code"] == "queue_full"
    assert "--max-batch" in error["message"] and "--max-queue" in error["message"]
    assert seen["serving"] == {
        "running": 1,
        "waitingForSlot": 1,
        "maxBatch": 1,
        "requestTimeoutSeconds": 600.0,
        "batching": "shared",
    }


def test_a_request_past_its_timeout_gets_504(tiny_lm: Path) -> None:
    ctx = slowed(tiny_lm, 0.01, request_timeout=0.5)

    async def scenario() -> tuple[int, dict[str, Any], float]:
        async with TestClient(TestServer(build_app(ctx))) as client:
            started = time.monotonic()
            reply = await client.post("/v1/completions", json=LONG)
            body = await reply.json()
            await until(lambda: ctx.scheduler is not None and ctx.scheduler.running == 0, 5)
            return reply.status, body, time.monotonic() - started

    status, body, seconds = asyncio.run(scenario())
    assert status == 504
    assert body["error"]["type"] == "timeout" and body["error"]["code"] == "request_timeout"
    assert "--request-timeout" in body["error"]["message"]
    assert seconds < 5  # answered at the deadline, not after 200 slow tokens


def test_a_stream_past_its_timeout_ends_with_an_error_event(tiny_lm: Path) -> None:
    ctx = slowed(tiny_lm, 0.01, request_timeout=0.5)

    async def scenario() -> tuple[int, list[str]]:
        async with TestClient(TestServer(build_app(ctx))) as client:
            reply = await client.post("/v1/completions", json={**LONG, "stream": True})
            events = [line for line in (await reply.text()).splitlines() if line]
            return reply.status, events

    status, events = asyncio.run(scenario())
    assert status == 200  # the stream had started
    assert len(events) > 2  # tokens came before the deadline
    last = json.loads(events[-1].removeprefix("data: "))
    assert last["error"]["type"] == "timeout"
    assert "data: [DONE]" not in events


def test_a_client_that_hangs_up_frees_its_slot(tiny_lm: Path) -> None:
    ctx = slowed(tiny_lm, 0.01, max_batch=1)

    async def scenario() -> dict[str, Any]:
        async with TestClient(TestServer(build_app(ctx))) as client:
            assert ctx.scheduler is not None
            scheduler = ctx.scheduler
            whole = asyncio.create_task(client.post("/v1/completions", json=LONG))
            await until(lambda: scheduler.running == 1)
            whole.cancel()  # the client gives up on a whole (non-streamed) answer
            await until(lambda: scheduler.running == 0, 5)
            stream = await client.post("/v1/completions", json={**LONG, "stream": True})
            await stream.content.readline()
            stream.close()  # and on a stream
            await until(lambda: scheduler.running == 0, 5)
            started = time.monotonic()
            short = await client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2})
            return {"short": short.status, "seconds": time.monotonic() - started}

    seen = asyncio.run(scenario())
    assert seen["short"] == 200
    assert seen["seconds"] < 1.5  # it did not wait behind 200 tokens of a departed client


def test_serving_metrics_count_batches_first_tokens_and_gaps(tiny_lm: Path) -> None:
    ctx = slowed(tiny_lm, 0.002)

    async def scenario() -> str:
        async with TestClient(TestServer(build_app(ctx))) as client:
            body = {"prompt": "hi", "max_tokens": 8, "ignore_eos": True}
            replies = await asyncio.gather(
                *(client.post("/v1/completions", json=body) for _ in range(4))
            )
            assert all(reply.status == 200 for reply in replies)
            await asyncio.sleep(1.1)  # the rate counts whole seconds gone by
            return await (await client.get("/metrics")).text()

    text = asyncio.run(scenario())

    def value(name: str) -> float:
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert match, f"{name} missing"
        return float(match.group(1))

    assert value("modeldeploy_time_to_first_token_seconds_count") == 4
    assert value("modeldeploy_inter_token_latency_seconds_count") == 4 * 7
    assert value("modeldeploy_generated_tokens_total") == 32
    batches = value("modeldeploy_batch_size_count")
    assert value("modeldeploy_batch_size_sum") / batches > 1  # they shared forward passes
    assert value("modeldeploy_queue_length") == 0
    assert value("modeldeploy_requests_running") == 0
    assert value("modeldeploy_generated_tokens_per_second") == 32 / 10  # over its 10 s


def test_probes_answer_at_once_while_streams_decode(tiny_lm: Path) -> None:
    ctx = slowed(tiny_lm, 0.01)

    async def scenario() -> list[float]:
        async with TestClient(TestServer(build_app(ctx))) as client:
            body = {**LONG, "stream": True}
            streams = await asyncio.gather(
                *(client.post("/v1/completions", json=body) for _ in range(8))
            )
            await until(lambda: ctx.scheduler is not None and ctx.scheduler.running == 8)
            seconds = []
            for _ in range(20):
                for path in ("/livez", "/readyz"):
                    started = time.monotonic()
                    assert (await client.get(path)).status == 200
                    seconds.append(time.monotonic() - started)
                await asyncio.sleep(0.01)
            for reply in streams:
                reply.close()
            return seconds

    seconds = asyncio.run(scenario())
    assert max(seconds) < 0.5  # a loose bound: the bench holds the real goal (p99 < 10 ms)
