"""The vLLM engine's Loading and WarmingUp steps, run by the pipeline on the loader thread.

Loading: check the engine arguments (the allow-list), start vLLM on the verified directory,
offline, listening on a Unix socket in a private directory; follow its output (load steps as
progress, the platform, architecture and dtype as facts) until its server answers `/health`.
The process ending first is a failure with the reason its exit code and last lines give.

WarmingUp: one real request through vLLM's own OpenAI API (a completion, or an embedding for a
pooling model), checked for a sane answer. vLLM's `/health` is 200 as soon as its server runs,
before any request has gone through the model: a model whose first request kills the engine
(an attention layout the platform lacks, say) passes `/health` and fails here, so it is never
Ready.

From Ready on, a watcher thread turns the process ending into Failed with the same reasons;
on shutdown `EngineHandle.close` stops the whole process group.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from modeldeploy import engine_args
from modeldeploy.runtime import tasks
from modeldeploy.runtime.engines.vllm import events, local
from modeldeploy.runtime.engines.vllm.process import (
    EngineProcess,
    NoInterpreterError,
    engine_env,
    find_python,
)
from modeldeploy.runtime.errors import LoadCancelledError, LoadError
from modeldeploy.runtime.state import Reason, State
from modeldeploy.runtime.warmup_result import WarmupResult

if TYPE_CHECKING:
    from modeldeploy.runtime.config import RuntimeConfig
    from modeldeploy.runtime.context import RuntimeContext

log = logging.getLogger("modeldeploy.runtime")

ENTRY_MODULE = "vllm.entrypoints.launchers.api_server.entry"  # what `vllm serve` runs
DEFAULT_MAX_NUM_SEQS = 256  # passed explicitly unless told otherwise: the bound is then known
HEALTH_POLL_SECONDS = 0.1
HEALTH_FALLBACK_SECONDS = 5.0  # ask /health this often even before the log says it listens
WARMUP_TIMEOUT_SECONDS = 600.0
EXIT_AFTER_FAILED_WARMUP_SECONDS = 5.0


@dataclass
class Seen:
    """What the engine's output has told so far (written by its reader thread)."""

    listening: threading.Event = field(default_factory=threading.Event)
    platform: str | None = None


@dataclass
class EngineHandle:
    """The started engine, as the context holds it."""

    process: EngineProcess
    socket: Path
    args: engine_args.EngineArgs
    max_num_seqs: int
    seen: Seen

    def to_json(self) -> dict[str, Any]:
        return {
            "name": "vllm",
            "pid": self.process.pid,
            "args": list(self.args.argv),
            "platform": self.seen.platform,
            "maxNumSeqs": self.max_num_seqs,
            "exitCode": self.process.returncode,
        }

    def close(self) -> None:
        """Stop the process group (drained first by the caller) and remove the socket."""
        code = self.process.stop()
        log.info("the vLLM engine stopped (%s)", events.describe_exit(code))
        shutil.rmtree(self.socket.parent, ignore_errors=True)


def checked_args(config: RuntimeConfig) -> tuple[engine_args.EngineArgs, int]:
    """The engine arguments to start with, and the number of sequences it runs at once."""
    try:
        args = engine_args.parse(config.engine_args)
    except engine_args.EngineArgsError as exc:
        raise LoadError(Reason.INVALID_ENGINE_ARGS, str(exc)) from None
    given = args.value("--max-num-seqs")
    if config.max_batch_given:
        if given is not None and int(given) != config.max_batch:
            raise LoadError(
                Reason.INVALID_ENGINE_ARGS,
                f"--max-batch {config.max_batch} and --max-num-seqs={given} disagree: "
                f"give one of them",
            )
        args = args.with_default("--max-num-seqs", str(config.max_batch))
    args = args.with_default("--max-num-seqs", str(DEFAULT_MAX_NUM_SEQS))
    if config.dtype != "auto":
        args = args.with_default("--dtype", config.dtype)
    max_num_seqs = args.value("--max-num-seqs")
    assert max_num_seqs is not None
    return args, int(max_num_seqs)


def load(ctx: RuntimeContext) -> None:
    """Start the engine and wait until its server answers; raise LoadError when it cannot."""
    config, info = ctx.config, ctx.info

    def on_step(step: str) -> None:
        ctx.machine.raise_progress(0.0, step=step)

    on_step("checking the engine arguments")
    args, max_num_seqs = checked_args(config)
    task = _task(config)
    info.task = task
    try:
        python = find_python()
    except NoInterpreterError as exc:
        raise LoadError(Reason.ENGINE_EXITED, str(exc)) from None
    directory = Path(tempfile.mkdtemp(prefix="modeldeploy-vllm-"))  # 0700: ours alone
    socket = directory / "engine.sock"
    argv = [
        str(python),
        "-m",
        ENTRY_MODULE,
        "--model",
        str(config.model_dir),
        "--uds",
        str(socket),
        "--served-model-name",
        *ctx.served_names,
        "--disable-uvicorn-access-log",
        *_runner(task),
        *args.argv,
    ]
    on_step("starting the vLLM engine")
    seen = Seen()

    def on_line(line: str) -> None:
        event = events.read(line)
        if event is None:
            return
        if event.platform:
            seen.platform = event.platform
            info.device = event.platform
        if event.architecture:
            info.architecture = event.architecture
        if event.dtype:
            info.dtype = event.dtype
        if event.step is not None:
            if event.step.fraction >= events.STEPS[-1].fraction:
                seen.listening.set()
            if ctx.machine.state is State.LOADING:
                ctx.machine.raise_progress(event.step.fraction, step=f"vLLM: {event.step.label}")

    log.info("starting the vLLM engine: %s", shlex.join(argv))
    process = EngineProcess(argv, env=engine_env(), on_line=on_line)
    handle = EngineHandle(process, socket, args, max_num_seqs, seen)
    ctx.vllm = handle
    _wait_until_serving(ctx, handle)
    ctx.machine.set_progress(1.0, step="vLLM: answering /health")


def _task(config: RuntimeConfig) -> str:
    path = config.model_dir / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoadError(Reason.CONFIG_INVALID, f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise LoadError(Reason.CONFIG_INVALID, f"{path}: not a JSON object")
    declared = SimpleNamespace(architectures=raw.get("architectures"))
    task = tasks.detect(declared, config.model_dir, config.task)
    tasks.check(declared, config.model_dir, task)
    return task


def _runner(task: str) -> list[str]:
    return ["--runner", "pooling" if task == "embeddings" else "generate"]


def _wait_until_serving(ctx: RuntimeContext, handle: EngineHandle) -> None:
    process, seen, asked = handle.process, handle.seen, 0.0
    while True:
        if ctx.cancel.is_set():
            raise LoadCancelledError()
        if process.returncode is not None:
            code = process.reap()
            verdict = events.judge_exit(code, process.tail, process.causes)
            raise LoadError(verdict.reason, verdict.message)
        if ctx.config.device == "cuda" and seen.platform not in (None, "cuda"):
            raise LoadError(
                Reason.DEVICE_UNAVAILABLE,
                f"--device cuda: the vLLM engine runs on the {seen.platform} platform "
                f"(its build, or no visible GPU)",
            )
        now = time.monotonic()
        if (seen.listening.is_set() or now - asked >= HEALTH_FALLBACK_SECONDS) and (
            handle.socket.exists()
        ):
            asked = now
            if local.healthy(handle.socket):
                return
        if seen.listening.is_set():
            time.sleep(HEALTH_POLL_SECONDS)
        else:
            seen.listening.wait(HEALTH_POLL_SECONDS)


def watch(ctx: RuntimeContext) -> None:
    """From now on (Ready), the process ending unless we stopped it fails the runtime.
    (Before, the step waiting on the engine finds out itself, and says in which step.)"""
    handle = ctx.vllm
    assert handle is not None

    def follow() -> None:
        handle.process.wait()
        if handle.process.stopping.is_set():
            return
        code = handle.process.reap()
        verdict = events.judge_exit(code, handle.process.tail, handle.process.causes)
        log.error("%s: %s", verdict.reason, verdict.message)
        ctx.machine.fail_if_live(verdict.reason, verdict.message)

    threading.Thread(target=follow, name="engine-watch", daemon=True).start()


def warm_up(ctx: RuntimeContext) -> None:
    """One real request through the engine's API; raise LoadError when it is not sane."""
    handle = ctx.vllm
    assert handle is not None
    config = ctx.config
    prompt = config.warmup_prompt
    started = time.perf_counter()
    if ctx.info.task == "embeddings":
        target = "/v1/embeddings"
        body: dict[str, Any] = {"model": ctx.info.name, "input": prompt}
    else:
        target = "/v1/completions"
        body = {
            "model": ctx.info.name,
            "prompt": prompt,
            "max_tokens": config.warmup_max_tokens,
            "temperature": 0,
        }
    try:
        answer = local.request(
            handle.socket, "POST", target, body=body, timeout=WARMUP_TIMEOUT_SECONDS
        )
        problem = None if answer.status == 200 else f"HTTP {answer.status}: {answer.body[:300]!r}"
        tokens = _check_answer(answer.json()) if problem is None else 0
    except (OSError, ValueError) as exc:
        problem, tokens = f"{type(exc).__name__}: {exc}", 0
    if problem is not None:
        _warmup_failed(handle, f"warm-up request {target} with prompt {prompt!r} failed: {problem}")
    seconds = time.perf_counter() - started
    ctx.info.warmup = WarmupResult(seconds, tokens, prompt)
    ctx.machine.set_progress(1.0, warmupSeconds=seconds)


def _check_answer(document: Any) -> int:
    """Tokens the warm-up produced (or read); ValueError when the answer is not sane."""
    usage = document.get("usage") or {}
    if "choices" in document:
        choices = document["choices"]
        if not choices or not isinstance(choices[0].get("text"), str):
            raise ValueError(f"no completion text in {str(document)[:300]}")
        tokens = int(usage.get("completion_tokens") or 0)
        if tokens < 1:
            raise ValueError("the completion has no tokens")
        return tokens
    data = document.get("data") or []
    vector = data[0].get("embedding") if data else None
    if not isinstance(vector, list) or not vector:
        raise ValueError(f"no embedding in {str(document)[:300]}")
    if not all(isinstance(x, int | float) and math.isfinite(x) for x in vector):
        raise ValueError("the embedding holds values that are not finite numbers")
    return int(usage.get("prompt_tokens") or 0)


def _warmup_failed(handle: EngineHandle, problem: str) -> None:
    """A failed warm-up often kills the engine: then its exit says more than the HTTP answer."""
    code = handle.process.wait(EXIT_AFTER_FAILED_WARMUP_SECONDS)
    if code is None:
        raise LoadError(Reason.WARMUP_FAILED, problem)
    handle.process.reap()
    verdict = events.judge_exit(code, handle.process.tail, handle.process.causes)
    raise LoadError(verdict.reason, f"{problem}; {verdict.message}")
