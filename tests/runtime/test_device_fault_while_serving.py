"""A fault that means the device is unusable (a CUDA error) moves a serving runtime to Failed:
liveness and readiness go 503 so Kubernetes restarts the pod; an ordinary error does not.

There is no GPU here, so the CUDA error comes from a test double standing in for a broken
device (`CudaFaultDouble`); everything else — the real model, engine and HTTP app — is real.
A fault in the middle of a batch fails every request in it (they shared the forward pass).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.server import build_app
from tests.runtime.inprocess import CudaFaultDouble, SlowDeviceDouble, ready_context


async def exercise(ctx: RuntimeContext, message: str) -> dict[str, Any]:
    async with TestClient(TestServer(build_app(ctx))) as client:
        assert (await client.get("/livez")).status == 200
        assert ctx.engine is not None
        ctx.engine.loaded.model.forward = CudaFaultDouble(message)
        reply = await client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2})
        return {
            "completion": (reply.status, await reply.json()),
            "livez": (await client.get("/livez")).status,
            "readyz": (await client.get("/readyz")).status,
            "status": await (await client.get("/status")).json(),
        }


def test_cuda_error_fails_the_runtime(tiny_lm: Path) -> None:
    ctx = ready_context(tiny_lm)
    seen = asyncio.run(exercise(ctx, "CUDA error: an illegal memory access was encountered"))
    status, body = seen["completion"]
    assert status == 503 and body["error"]["type"] == "device_fault"
    assert seen["livez"] == 503 and seen["readyz"] == 503
    assert seen["status"]["state"] == "Failed"
    assert seen["status"]["error"]["reason"] == "DeviceFault"
    assert "illegal memory access" in seen["status"]["error"]["message"]


def test_ordinary_error_keeps_the_runtime_ready(tiny_lm: Path) -> None:
    ctx = ready_context(tiny_lm)
    seen = asyncio.run(exercise(ctx, "shape mismatch in a request"))
    status, body = seen["completion"]
    assert status == 500 and body["error"]["type"] == "internal_error"
    assert seen["livez"] == 200 and seen["readyz"] == 200
    assert seen["status"]["state"] == "Ready"


async def fault_mid_batch(ctx: RuntimeContext, streams: int) -> dict[str, Any]:
    """`streams` streamed completions run together; the device dies while they decode."""
    assert ctx.engine is not None and ctx.scheduler is not None
    model = ctx.engine.loaded.model
    model.forward = SlowDeviceDouble(model.forward, 0.01)  # 200 steps outlast the test
    async with TestClient(TestServer(build_app(ctx))) as client:
        body = {"prompt": "hi", "max_tokens": 200, "ignore_eos": True, "stream": True}
        replies = await asyncio.gather(
            *(client.post("/v1/completions", json=body) for _ in range(streams))
        )
        for reply in replies:  # every stream has its first token
            assert reply.status == 200
            assert (await reply.content.readline()).startswith(b"data: ")
        for _ in range(2000):  # a prefill group joins the batch just after its first tokens
            if ctx.scheduler.running >= streams:
                break
            await asyncio.sleep(0.005)
        batched = ctx.scheduler.running
        model.forward = CudaFaultDouble("CUDA error: unspecified launch failure")
        endings = [(await reply.text()).strip().splitlines()[-1] for reply in replies]
        after = await client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2})
        return {
            "batched": batched,
            "endings": endings,
            "after": after.status,
            "status": await (await client.get("/status")).json(),
        }


def test_a_device_fault_mid_batch_fails_every_request_in_it(tiny_lm: Path) -> None:
    ctx = ready_context(tiny_lm)
    seen = asyncio.run(fault_mid_batch(ctx, streams=4))
    assert seen["batched"] == 4
    for ending in seen["endings"]:  # each stream's last event is the error, in-band
        error = json.loads(ending.removeprefix("data: "))["error"]
        assert error["type"] == "device_fault", ending
        assert "unspecified launch failure" in error["message"]
    assert seen["after"] == 503
    assert seen["status"]["state"] == "Failed"
    assert seen["status"]["error"]["reason"] == "DeviceFault"
