"""`GET /status` and `GET /status/stream` (Server-Sent Events): the runtime's full report.

The operator parses this from every pod, so the keys are camelCase and stable; their names and
the states and reasons are defined once in `modeldeploy.runtime_report` (`StatusDocument`):

    {
      "state": "Loading",                 # Starting|Fetching|Verifying|Loading|WarmingUp|
                                          #   Ready|Draining|Failed
      "progress": 0.42,                   # 0..1 of the current phase (bytes fetched, loaded)
      "progressDetail": {...},            # phase counters, e.g. bytesDone/bytesTotal
      "model": {"name", "servedNames", "task", "architecture", "directory", "repo", "pooling"},
      "revision": "main" | null,          # as requested/recorded in the manifest
      "commit": "<40 hex>" | null,        # resolved commit from the manifest
      "verified": true,                   # false only under --allow-unverified without a manifest
      "device": "cpu" | "cuda:0" | null,
      "dtype": "float32" | ... | null,
      "memory": {"weightBytes", "requiredBytes", "freeBytes"} | null,
      "load": {"bytesDone", "bytesTotal", "readSeconds", "buildSeconds"},  # the last two
                                          #   once loaded: tensor reading vs model building
      "download": {"bytesDone", "bytesTotal", "filesDone", "filesTotal", "bytesPerSecond",
                   "etaSeconds", ...} | null,      # per-pod fetch mode only
      "timings": {"fetchSeconds", "verifySeconds", "loadSeconds", "warmupSeconds",
                  "startupSeconds"},      # null until the phase ended
      "warmup": {"ok", "prompt", "latencySeconds", "tokens", "tokensPerSecond"} | null,
      "error": {"reason", "message"} | null,
      "eta": {"seconds", "retryAfterSeconds", # until Ready, before Ready only (else null);
              "phases": [{"state", "seconds", "basis"}]} | null,  # see eta.py
      "inFlight": 0,                      # requests being served
      "queue": {"waiting", "maxQueue",    # /v1 requests waiting for Ready (waiting.py)
                "queueWhileLoadingSeconds"},
      "serving": {"running", "waitingForSlot",   # the scheduler (batching/scheduler.py):
                  "maxBatch", "requestTimeoutSeconds",  # requests in the batch and queued;
                  "batching"},            # "shared" passes, "turns", or null until known
      "usage": {"requests": 0,            # /v1 requests completed with a 2xx since start
                "lastRequestAt": ISO|null},  #   and when the last one did (see usage.py)
      "history": [{"state", "at" (ISO 8601 UTC), "reason", "message"}]
    }

The stream sends the same document as `event: status` once on connect and again after every
state or progress change; a comment line every 15 s keeps idle proxies from closing it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.state import Snapshot, State
from modeldeploy.runtime_report import SECONDS_IN, STARTUP_SECONDS, StatusDocument

log = logging.getLogger("modeldeploy.runtime")

HEARTBEAT_SECONDS = 15.0
STREAM_QUEUE_LIMIT = 10_000


def document(ctx: RuntimeContext, snap: Snapshot | None = None) -> StatusDocument:
    snap = snap or ctx.machine.snapshot()
    info = ctx.info
    estimate = ctx.estimate(snap)
    return {
        "state": snap.state.value,
        "progress": round(snap.progress, 6),
        "progressDetail": snap.detail,
        "model": {
            "name": info.name,
            "servedNames": list(ctx.served_names),
            "task": info.task,
            "architecture": info.architecture,
            "directory": str(info.directory),
            "repo": info.repo,
            "pooling": info.extra.get("pooling"),
        },
        "revision": info.revision,
        "commit": info.commit,
        "verified": info.verified,
        "device": info.device,
        "dtype": info.dtype,
        "memory": info.memory,
        "load": {
            "bytesDone": info.bytes_loaded,
            "bytesTotal": info.bytes_total,
            **info.extra.get("loadTimings", {}),
        },
        "download": info.download,
        "timings": timings(snap),
        "warmup": info.warmup.to_json() if info.warmup else None,
        "error": snap.error.to_json() if snap.error else None,
        "eta": estimate.to_json() if estimate else None,
        "inFlight": ctx.in_flight,
        "queue": {
            "waiting": ctx.waiting,
            "maxQueue": ctx.config.max_queue,
            "queueWhileLoadingSeconds": ctx.config.queue_while_loading,
        },
        "serving": serving(ctx),
        "engine": ctx.vllm.to_json() if ctx.vllm is not None else {"name": ctx.config.engine},
        "usage": ctx.usage.to_json(),
        "history": [t.to_json() for t in snap.history],
    }


def timings(snap: Snapshot) -> dict[str, float | None]:
    out: dict[str, float | None] = {
        key: round(snap.durations[state.value], 6) if state.value in snap.durations else None
        for state, key in SECONDS_IN.items()
    }
    ready = next((t for t in snap.history if t.state is State.READY), None)
    started = snap.history[0]
    out[STARTUP_SECONDS] = round(ready.monotonic - started.monotonic, 6) if ready else None
    return out


def attach(app: web.Application, ctx: RuntimeContext) -> None:
    async def status(_request: web.Request) -> web.Response:
        return web.json_response(document(ctx))

    async def stream(request: web.Request) -> web.StreamResponse:
        return await _stream(request, ctx)

    app.router.add_get("/status", status)
    app.router.add_get("/status/stream", stream)


async def _stream(request: web.Request, ctx: RuntimeContext) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Snapshot | None] = asyncio.Queue(maxsize=STREAM_QUEUE_LIMIT)

    def push(snap: Snapshot) -> None:
        loop.call_soon_threadsafe(_offer, queue, snap)

    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    unsubscribe = ctx.machine.subscribe(push)
    closers: set[asyncio.Queue[Snapshot | None]] = request.app[STREAMS]
    closers.add(queue)
    try:
        await _send(response, document(ctx))
        while True:
            try:
                snap = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if snap is None:
                break
            await _send(response, document(ctx, snap))
    except ConnectionResetError:
        log.debug("status stream closed by the client")
    finally:
        unsubscribe()
        closers.discard(queue)
    return response


def _offer(queue: asyncio.Queue[Snapshot | None], snap: Snapshot) -> None:
    if queue.full():
        log.warning("status stream client too slow; dropping a progress event")
        return
    queue.put_nowait(snap)


async def _send(response: web.StreamResponse, doc: StatusDocument) -> None:
    payload = json.dumps(doc, separators=(",", ":"))
    await response.write(f"event: status\ndata: {payload}\n\n".encode())


STREAMS = web.AppKey[set[asyncio.Queue[Snapshot | None]]]("status_streams")


async def close_streams(app: web.Application) -> None:
    """End every open stream (called at shutdown, after the last state was pushed)."""
    streams: set[asyncio.Queue[Snapshot | None]] = app[STREAMS]
    for queue in list(streams):
        queue.put_nowait(None)


def serving(ctx: RuntimeContext) -> dict[str, Any]:
    handle = ctx.vllm
    if ctx.config.engine == "vllm":  # vLLM batches and queues inside its own process
        return {
            "running": ctx.in_flight,
            "waitingForSlot": 0,
            "maxBatch": handle.max_num_seqs if handle is not None else None,
            "requestTimeoutSeconds": ctx.config.request_timeout,
            "batching": "vllm",
        }
    scheduler = ctx.scheduler
    batched = scheduler.batched if scheduler is not None else None
    return {
        "running": scheduler.running if scheduler is not None else 0,
        "waitingForSlot": scheduler.waiting if scheduler is not None else 0,
        "maxBatch": ctx.config.max_batch,
        "requestTimeoutSeconds": ctx.config.request_timeout,
        "batching": None if batched is None else ("shared" if batched else "turns"),
    }
