"""The road to Ready, run on a worker thread: (fetch) → verify → memory check → load → warm-up.

With `--engine vllm`, Loading starts the vLLM engine on the verified directory and WarmingUp
sends it a real request (`engines/vllm/steps.py`); the states and their meaning are the same.

Each step moves the state machine first and then does the work, so `/status` always names
the step in progress. A step that fails raises `LoadError` (typed reason, message naming the
file) and the machine goes to Failed; SIGTERM sets `ctx.cancel`, which the fetcher and the
loader poll between chunks and tensors, so a pod told to stop does not finish a 40 GB load
first.
"""

from __future__ import annotations

import logging
import time

from modeldeploy.runtime import integrity, priority
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.errors import LoadCancelledError, LoadError
from modeldeploy.runtime.state import Reason, State

log = logging.getLogger("modeldeploy.runtime")


def run(ctx: RuntimeContext) -> None:
    """Drive the machine to Ready or Failed; never raises (the thread has no caller).

    Any exception the steps did not type (a bug, an illegal transition, a library error)
    still ends in Failed with its name and message: a loader thread that died silently would
    leave the runtime in Loading with /livez 200 forever, and Kubernetes would never restart it.
    """
    priority.lower_current_thread(ctx.config.worker_niceness)
    try:
        _run_steps(ctx)
    except LoadCancelledError:
        log.info("start-up cancelled in %s", ctx.machine.state)
    except LoadError as exc:
        _fail(ctx, exc.reason, exc.message)
    except Exception as exc:
        from modeldeploy.runtime.faults import is_device_fault

        reason = Reason.DEVICE_FAULT if is_device_fault(exc) else Reason.LOAD_FAILED
        if not ctx.cancel.is_set():
            log.exception("start-up failed")
        _fail(ctx, reason, f"{ctx.config.model_dir}: {type(exc).__name__}: {exc}")


def _fail(ctx: RuntimeContext, reason: str, message: str) -> None:
    if ctx.cancel.is_set():
        log.info("start-up ended during shutdown: %s: %s", reason, message)
        return
    ctx.machine.fail_if_live(reason, message)


def _advance(ctx: RuntimeContext, target: State, reason: str, message: str = "") -> None:
    if ctx.cancel.is_set():
        raise LoadCancelledError()
    ctx.machine.transition(target, reason=reason, message=message)


def _run_steps(ctx: RuntimeContext) -> None:
    why = integrity.fetch_reason(ctx.config)
    if why is not None:
        _fetch(ctx, *why)
    if ctx.machine.state is not State.VERIFYING:  # the fetcher may have entered it already
        _advance(ctx, State.VERIFYING, "LocalFiles" if why is None else "Fetched")
    _verify(ctx)
    _advance(ctx, State.LOADING, "Verified" if ctx.info.verified else "Unverified")
    if ctx.config.engine == "vllm":
        from modeldeploy.runtime.engines.vllm import steps

        steps.load(ctx)
        if ctx.config.warmup:
            _advance(ctx, State.WARMING_UP, "EngineStarted")
            steps.warm_up(ctx)
        steps.watch(ctx)
    else:
        _load(ctx)
        if ctx.config.warmup:
            _advance(ctx, State.WARMING_UP, "WeightsLoaded")
            _warm_up(ctx)
    _advance(ctx, State.READY, "WarmupPassed" if ctx.config.warmup else "WarmupDisabled")


def _fetch(ctx: RuntimeContext, reason: str, message: str) -> None:
    from modeldeploy.runtime import fetching

    _advance(ctx, State.FETCHING, reason, message)
    fetching.fetch_into(ctx)


def _verify(ctx: RuntimeContext) -> None:
    def on_progress(fraction: float) -> None:
        ctx.machine.raise_progress(fraction)

    found = integrity.check(
        ctx.config.model_dir,
        full=ctx.config.verify == "full",
        allow_unverified=ctx.config.allow_unverified,
        on_progress=on_progress,
    )
    info = ctx.info
    info.verified = found.verified
    if found.manifest is not None:
        info.repo = found.manifest.repo
        info.revision = found.manifest.revision
        info.commit = found.manifest.commit
        info.bytes_total = found.manifest.total_bytes
    ctx.machine.set_progress(1.0, filesChecked=found.files_checked)


def _load(ctx: RuntimeContext) -> None:
    config, info = ctx.config, ctx.info

    def on_step(step: str) -> None:
        ctx.machine.raise_progress(0.0, step=step)

    on_step("checking the device")
    from modeldeploy.runtime import loader, memory

    device = loader.choose_device(config.device)
    info.device = str(device)
    on_step("reading config")
    checkpoint = loader.inspect(
        config.model_dir,
        device=device,
        dtype_choice=config.dtype,
        task_choice=config.task,
        allow_pickle=config.allow_pickle,
    )
    if checkpoint.safetensors:
        info.memory = memory.check(
            checkpoint.headers, device=device, dtype=checkpoint.dtype
        ).to_json()

    def on_progress(done: int, total: int) -> None:
        info.bytes_loaded, info.bytes_total = done, total
        ctx.machine.set_progress(done / total if total else 1.0, bytesDone=done, bytesTotal=total)

    loaded = loader.load_model(
        checkpoint, device=device, on_progress=on_progress, cancel=ctx.cancel, on_step=on_step
    )
    info.task, info.architecture = loaded.task, loaded.architecture
    info.dtype = str(loaded.dtype).removeprefix("torch.")
    info.extra["loadTimings"] = {
        "readSeconds": round(loaded.read_seconds, 6),
        "buildSeconds": round(loaded.build_seconds, 6),
    }
    if loaded.pooling is not None:
        info.extra["pooling"] = loaded.pooling.to_json()
    from modeldeploy.runtime.batching.scheduler import Scheduler
    from modeldeploy.runtime.engine import Engine

    engine = Engine(loaded)
    config = ctx.config
    scheduler = Scheduler(
        engine,
        max_batch=config.max_batch,
        niceness=config.worker_niceness,
        observer=ctx.serving_observer,
    )
    scheduler.start()
    ctx.engine, ctx.scheduler = engine, scheduler


def _warm_up(ctx: RuntimeContext) -> None:
    from modeldeploy.runtime import warmup

    assert ctx.scheduler is not None
    started = time.perf_counter()
    result = warmup.run(
        ctx.scheduler, prompt=ctx.config.warmup_prompt, max_tokens=ctx.config.warmup_max_tokens
    )
    ctx.info.warmup = result
    ctx.machine.set_progress(1.0, warmupSeconds=time.perf_counter() - started)
