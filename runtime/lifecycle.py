"""Process lifecycle of `modeldeploy serve`: listen first, load on a thread, drain on SIGTERM.

Order matters. The inference libraries are imported first (see `preload`: their C-level
loading holds the GIL and would stall probes). Then the HTTP server listens, before any
model file is verified or weight read, so kubelet's probes see the truth (alive, not ready,
loading at 40 %) for the whole load. Loading runs on a worker thread, never on the event
loop. On SIGTERM the runtime enters Draining at once
(`/readyz` 503 so the Service stops sending traffic), cancels a fetch or load in progress,
lets in-flight requests finish, frees the device memory and exits 0. A permanent failure is
written to the termination-message file (Kubernetes shows it in the pod status), kept on
`/status` for `failure_linger` seconds, and the process exits 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from modeldeploy.runtime import pipeline, preload
from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.server import OPENAI, build_app
from modeldeploy.runtime.state import Failure, Reason, Snapshot, State

log = logging.getLogger("modeldeploy.runtime")

# The event loop must get the GIL back quickly while the loader thread runs Python code, so
# probes stay in the low milliseconds (the default switch interval is 5 ms).
SWITCH_INTERVAL_SECONDS = 0.001
TERMINATION_MESSAGE_LIMIT = 4096
LOADER_JOIN_SECONDS = 30.0


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    error: Failure | None = None


def serve(config: RuntimeConfig) -> Outcome:
    """Run the runtime until SIGTERM (exit 0) or a permanent failure (exit 1)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    ctx = RuntimeContext(config)
    ctx.machine.subscribe(_state_logger())
    if config.engine == "builtin":  # vLLM runs in its own process: nothing to import here
        log.info("importing torch and transformers before the port opens")
        seconds = preload.libraries(config.model_dir)
        log.info("imported in %.1fs", seconds)
    return asyncio.run(_serve(ctx))


def _state_logger() -> Callable[[Snapshot], None]:
    last: list[State] = []

    def log_change(snap: Snapshot) -> None:
        if last and last[-1] is snap.state:
            return
        last.append(snap.state)
        entry = snap.history[-1]
        suffix = f" ({entry.reason}: {entry.message})" if entry.message else ""
        log.info("state %s%s", snap.state.value, suffix)

    return log_change


async def _serve(ctx: RuntimeContext) -> Outcome:
    app = build_app(ctx)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, ctx.config.host, ctx.config.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{ctx.config.host}:{ctx.config.port}"
        failure = Failure(Reason.LISTEN_FAILED, f"{where}: cannot listen: {exc.strerror}")
        write_termination_log(ctx.config.termination_log, failure)
        return Outcome(1, failure)
    log.info("listening on http://%s:%d", ctx.config.host, ctx.config.port)
    stop, failed = _install_triggers(ctx)
    loader = threading.Thread(target=pipeline.run, args=(ctx,), name="loader", daemon=True)
    loader.start()
    try:
        await _first_of(stop, failed)
        if ctx.machine.state is State.FAILED:
            return await _fail(ctx, runner)
        return await _drain(ctx, loader)
    finally:
        await _shutdown(ctx, runner, app)


def _install_triggers(ctx: RuntimeContext) -> tuple[asyncio.Event, asyncio.Event]:
    loop = asyncio.get_running_loop()
    stop, failed = asyncio.Event(), asyncio.Event()

    def on_signal(signame: str) -> None:
        log.info("%s: draining", signame)
        ctx.cancel.set()
        ctx.machine.drain(reason=signame)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signal.Signals(signum).name)

    def on_change(snap: Snapshot) -> None:
        if snap.state is State.FAILED:
            loop.call_soon_threadsafe(failed.set)

    ctx.machine.subscribe(on_change)
    if ctx.machine.state is State.FAILED:
        failed.set()
    return stop, failed


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    _done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def _fail(ctx: RuntimeContext, runner: web.AppRunner) -> Outcome:
    snap = ctx.machine.snapshot()
    assert snap.error is not None
    write_termination_log(ctx.config.termination_log, snap.error)
    log.error("failed: %s: %s", snap.error.reason, snap.error.message)
    if ctx.config.failure_linger > 0:  # keep /status readable for a moment
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=ctx.config.failure_linger)
    return Outcome(1, snap.error)


async def _drain(ctx: RuntimeContext, loader: threading.Thread) -> Outcome:
    """Draining: no new work; wait for in-flight requests and for the loader to stop."""
    idle = await asyncio.to_thread(ctx.wait_idle, ctx.config.drain_timeout)
    if not idle:
        log.warning("drain timeout: %d requests still in flight", ctx.in_flight)
    await asyncio.to_thread(loader.join, LOADER_JOIN_SECONDS)
    if loader.is_alive():
        log.warning("the loader did not stop within %.0f s", LOADER_JOIN_SECONDS)
    snap = ctx.machine.snapshot()
    if snap.state is State.FAILED and snap.error is not None:
        write_termination_log(ctx.config.termination_log, snap.error)
        return Outcome(1, snap.error)
    log.info("drained; exiting")
    return Outcome(0)


async def _shutdown(ctx: RuntimeContext, runner: web.AppRunner, app: web.Application) -> None:
    await runner.cleanup()
    if OPENAI in app:
        app[OPENAI].pool.shutdown(wait=True)
    handle, ctx.vllm = ctx.vllm, None
    if handle is not None:  # after the drain: stop the engine's whole process group
        await asyncio.to_thread(handle.close)
    scheduler, ctx.scheduler = ctx.scheduler, None
    if scheduler is not None:
        await asyncio.to_thread(scheduler.stop)
    engine, ctx.engine = ctx.engine, None
    if engine is not None:
        engine.loaded.release()  # frees CUDA memory (empty_cache) before the process ends


def write_termination_log(path: Path, failure: Failure) -> None:
    """Kubernetes shows this file's content as the container's termination message."""
    text = f"{failure.reason}: {failure.message}"[:TERMINATION_MESSAGE_LIMIT]
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write the termination log %s: %s", path, exc.strerror)
