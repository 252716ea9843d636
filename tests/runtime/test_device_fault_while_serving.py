"""A fault that means the device is unusable (a CUDA error) moves a serving runtime to Failed:
liveness and readiness go 503 so Kubernetes restarts the pod; an ordinary error does not.

There is no GPU here, so the CUDA error comes from a test double standing in for a broken
device (`CudaFaultDouble`); everything else — the real model, engine and HTTP app — is real.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from modeldeploy.runtime import pipeline
from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.server import build_app
from modeldeploy.runtime.state import State


class CudaFaultDouble:
    """Test double for a GPU that died: every forward pass raises what torch raises then."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(self.message)


def ready_context(model_dir: Path) -> RuntimeContext:
    ctx = RuntimeContext(RuntimeConfig(model_dir=model_dir, device="cpu", warmup_max_tokens=1))
    pipeline.run(ctx)
    assert ctx.machine.state is State.READY, ctx.machine.snapshot().error
    return ctx


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
