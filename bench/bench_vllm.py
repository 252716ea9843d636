"""Benchmark what `modeldeploy serve --engine vllm` costs against `vllm serve` alone: the time
to Ready, and what the relay adds to throughput and latency, measured in one run.

One run (python bench/bench_vllm.py [--size-mb 100] [--rounds 3] [--keep DIR]):

1. Build a random Llama of about --size-mb (float32 safetensors, heads of 128 dimensions, a
   real byte-level BPE tokenizer, a manifest as if fetched) under /tmp.
2. A discarded start of vLLM alone fills vLLM's compile cache, so neither measured start pays
   for compiling. Then, each with nothing else running, measured from the process start:
   - vLLM alone: the same engine entry point with the same arguments the runtime gives it
     (`--max-num-seqs=256 --runner generate`), on a loopback TCP port, until its first
     `POST /v1/completions` (the warm-up's: 8 tokens, greedy) answers 200, polled every 0.1 s
     (then stopped);
   - the runtime: `modeldeploy serve --engine vllm` until `/readyz` is 200 (it verified the
     directory, started vLLM, and a warm-up completion passed).
   Each engine gets 1 GiB of KV cache (VLLM_CPU_KVCACHE_SPACE=1).
3. Latency, with the runtime's engine the only one running: one client, 1-token completions
   one after another, in --rounds rounds of 100 each, taking turns request by request between
   the runtime and the very vLLM server behind it asked directly on its Unix socket (found from
   the engine's command line): the same process in the same state, one hop apart.
4. Throughput, vLLM alone started again beside the runtime, in --rounds rounds, each target in
   turn (the order alternates between rounds, so drift in the machine's speed falls on both):
   - whole answers: 8 clients, each 4 completions one after another (`max_tokens` 32,
     `ignore_eos`, so every answer is 32 tokens: checked); tokens/s = tokens ÷ wall seconds;
   - streamed answers: the same with `stream: true`, every chunk read.
   The median over rounds of each target's tokens/s.

Why latency is measured this way: vLLM's CPU build keeps its engine-core and worker processes
polling (over one bench run, each instance's engine core and worker averaged 0.3 and 0.5 of a
core on this 2-core machine), so with two instances up every process hop waits for a core. A
first version compared with vLLM alone while both ran and read p50s of ~95 ms and ~280-730 ms
for the two instances in the same round: the difference measured the instances and their
contention, not the relay.

Goals: time to Ready ÷ vLLM alone's first completion ≤ 1.1; throughput through the runtime ÷
vLLM alone ≥ 0.95 (whole and streamed); p50 latency through the runtime minus its engine asked
directly ≤ 2 ms.
Exit 1 if a goal is missed, 2 when it cannot run here (no vLLM environment: build it with
`hack/venv.sh --vllm`; see bench/goals.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import goals  # noqa: E402
from tests.support import tinymodels  # noqa: E402
from tests.support.net import free_port  # noqa: E402

TIME_TO_READY = goals.Goal("time to Ready ÷ vLLM alone's first completion", "<=", 1.1)
WHOLE = goals.Goal("throughput, whole answers: runtime ÷ vLLM alone", ">=", 0.95)
STREAMED = goals.Goal("throughput, streamed answers: runtime ÷ vLLM alone", ">=", 0.95)
LATENCY = goals.Goal("p50 latency added by the runtime (vs its engine direct)", "<=", 2.0, "ms")

ENTRY = "vllm.entrypoints.launchers.api_server.entry"
ENGINE_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}
CLIENTS, REQUESTS_EACH, TOKENS = 8, 4, 32
LATENCY_REQUESTS = 100
PROMPTS = [
    "the quick brown fox", "a model is ready only when", "hello world, hello runtime",
    "kubernetes restarts a pod", "state that never lies", "every byte was checked",
    "the warm-up request passed", "weights sit on the device",
]  # fmt: skip


def vllm_python() -> Path:
    configured = os.environ.get("MODELDEPLOY_VLLM_PYTHON")
    if configured:
        return Path(configured)
    found = subprocess.run(
        [str(ROOT / "hack" / "venv.sh"), "--vllm", "--path"], capture_output=True, text=True
    )
    path = Path(found.stdout.strip()) / "bin" / "python"
    if not (path.parent.parent / ".complete").is_file():
        raise goals.SetupError("no vLLM environment: build it with hack/venv.sh --vllm")
    return path


class Process:
    """A server in a child process, logging to a file; stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name, self.log = name, log
        self.started = time.monotonic()
        with log.open("wb") as out:
            self.child = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def check(self) -> None:
        if self.child.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"{self.name} exited with {self.child.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.child.poll() is None:
            os.killpg(self.child.pid, signal.SIGTERM)
            try:
                self.child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait()


def post(url: str, body: dict[str, Any], timeout: float = 60.0) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def warmup_body() -> dict[str, Any]:
    return {"model": "bench", "prompt": "Hello", "max_tokens": 8, "temperature": 0}


def start_alone(python: Path, model: Path, work: Path, tag: str) -> tuple[Process, str, float]:
    port = free_port()
    argv = [
        str(python), "-m", ENTRY, "--model", str(model), "--host", "127.0.0.1",
        "--port", str(port), "--served-model-name", "bench", "--disable-uvicorn-access-log",
        "--runner", "generate", "--max-num-seqs=256",
    ]  # fmt: skip
    env = {**os.environ, **ENGINE_ENV, "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
    process = Process(f"vllm alone ({tag})", argv, work / f"vllm-{tag}.log", env)
    base = f"http://127.0.0.1:{port}"
    while post(base + "/v1/completions", warmup_body(), timeout=300) != 200:
        process.check()
        time.sleep(0.1)
    seconds = time.monotonic() - process.started
    print(f"vllm alone ({tag}): first completion after {seconds:.1f} s")
    return process, base, seconds


def start_runtime(python: Path, model: Path, work: Path) -> tuple[Process, str, float]:
    port = free_port()
    argv = [
        sys.executable, "-m", "modeldeploy", "serve", "--model-dir", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--engine", "vllm",
        "--served-model-name", "bench", "--termination-log", str(work / "termination.log"),
        "--request-timeout", "0",
    ]  # fmt: skip
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {
        **os.environ, **ENGINE_ENV, "MODELDEPLOY_VLLM_PYTHON": str(python),
        "PYTHONPATH": os.pathsep.join(paths),
    }  # fmt: skip
    process = Process("modeldeploy serve --engine vllm", argv, work / "runtime.log", env)
    base = f"http://127.0.0.1:{port}"
    while get(base + "/readyz") != 200:
        process.check()
        time.sleep(0.1)
    seconds = time.monotonic() - process.started
    print(f"runtime: Ready after {seconds:.1f} s")
    return process, base, seconds


# -- load -----------------------------------------------------------------------------------
def body(prompt: str, tokens: int, *, stream: bool) -> dict[str, Any]:
    request = {"model": "bench", "prompt": prompt, "max_tokens": tokens, "temperature": 0,
               "ignore_eos": True, "stream": stream}  # fmt: skip
    if stream:
        request["stream_options"] = {"include_usage": True}
    return request


async def whole(session: aiohttp.ClientSession, base: str, prompt: str) -> int:
    async with session.post(base + "/v1/completions", json=body(prompt, TOKENS, stream=False)) as r:
        answer = await r.json()
        if r.status != 200:
            raise RuntimeError(f"{base}: {r.status} {answer}")
        tokens = int(answer["usage"]["completion_tokens"])
        if tokens != TOKENS:
            raise RuntimeError(f"{base}: {tokens} tokens, expected {TOKENS}")
        return tokens


async def streamed(session: aiohttp.ClientSession, base: str, prompt: str) -> int:
    """Every chunk read; the tokens counted by the usage chunk at the end."""
    usage: dict[str, Any] = {}
    async with session.post(base + "/v1/completions", json=body(prompt, TOKENS, stream=True)) as r:
        if r.status != 200:
            raise RuntimeError(f"{base}: {r.status} {await r.text()}")
        async for line in r.content:
            if line.startswith(b"data: ") and line.strip() != b"data: [DONE]":
                usage = json.loads(line[6:]).get("usage") or usage
    if usage.get("completion_tokens") != TOKENS:
        raise RuntimeError(f"{base}: the stream's usage says {usage}, expected {TOKENS} tokens")
    return TOKENS


async def throughput(base: str, *, stream: bool) -> float:
    one = streamed if stream else whole

    async def client(index: int) -> int:
        made = 0
        for request in range(REQUESTS_EACH):
            made += await one(session, base, PROMPTS[(index + request) % len(PROMPTS)])
        return made

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=600)
    ) as session:
        started = time.perf_counter()
        made = await asyncio.gather(*(client(i) for i in range(CLIENTS)))
        return sum(made) / (time.perf_counter() - started)


async def latencies(targets: dict[str, str]) -> dict[str, list[float]]:
    """1-token completions, the targets taking turns request by request (the first of each
    turn rotating), so that drift in the machine's speed falls on all alike. A target is a
    URL, or `unix:PATH` for a server on a Unix socket."""
    seconds: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    sessions: dict[str, aiohttp.ClientSession] = {}
    bases: dict[str, str] = {}
    for name, target in targets.items():
        if target.startswith("unix:"):
            connector: aiohttp.BaseConnector = aiohttp.UnixConnector(path=target[5:])
            bases[name] = "http://engine"
        else:
            connector, bases[name] = aiohttp.TCPConnector(), target
        sessions[name] = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=600)
        )
    try:
        for index in range(LATENCY_REQUESTS):
            request = body(PROMPTS[index % len(PROMPTS)], 1, stream=False)
            turn = index % len(names)
            for name in names[turn:] + names[:turn]:
                started = time.perf_counter()
                async with sessions[name].post(bases[name] + "/v1/completions", json=request) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{targets[name]}: {r.status}")
                seconds[name].append(time.perf_counter() - started)
    finally:
        for session in sessions.values():
            await session.close()
    return seconds


def engine_socket(base: str) -> str:
    """`unix:PATH` of the engine the runtime at `base` started (its --uds, from /proc)."""
    with urllib.request.urlopen(base + "/status", timeout=10) as answer:
        pid = json.load(answer)["engine"]["pid"]
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return "unix:" + argv[argv.index("--uds") + 1]


def latency(runtime: str, engine: str, rounds: int) -> float:
    """p50 ms through the runtime minus p50 ms of its engine asked directly."""
    seconds: dict[str, list[float]] = {"runtime": [], "its engine": []}
    for round_number in range(rounds):
        for name, taken in asyncio.run(
            latencies({"runtime": runtime, "its engine": engine})
        ).items():
            seconds[name].extend(taken)
            print(f"latency round {round_number + 1} {name:>10}: p50 {p50_ms(taken):.2f} ms")
    added = p50_ms(seconds["runtime"]) - p50_ms(seconds["its engine"])
    print(
        f"1-token completion p50: runtime {p50_ms(seconds['runtime']):.2f} ms, its engine on "
        f"its socket {p50_ms(seconds['its engine']):.2f} ms: {added:+.2f} ms"
    )
    return added


def p50_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def throughputs(targets: dict[str, str], rounds: int) -> dict[str, dict[str, list[float]]]:
    """tokens/s of whole and streamed answers per target, rounds alternating the order."""
    rates: dict[str, dict[str, list[float]]] = {
        name: {"whole": [], "streamed": []} for name in targets
    }
    names = list(targets)
    for round_number in range(rounds):
        for name in names if round_number % 2 == 0 else names[::-1]:
            rates[name]["whole"].append(asyncio.run(throughput(targets[name], stream=False)))
            rates[name]["streamed"].append(asyncio.run(throughput(targets[name], stream=True)))
            print(
                f"load round {round_number + 1} {name:>7}: whole {rates[name]['whole'][-1]:.1f} "
                f"tok/s, streamed {rates[name]['streamed'][-1]:.1f} tok/s"
            )
    return rates


def sigterm_exits(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the model here and keep it")
    options = parser.parse_args()
    python = vllm_python()
    signal.signal(signal.SIGTERM, sigterm_exits)
    work = options.keep or Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    work.mkdir(parents=True, exist_ok=True)
    model = work / "model"
    if not (model / "config.json").is_file():
        tinymodels.build_causal_lm(model, approx_bytes=options.size_mb * 1e6)
        tinymodels.write_manifest_for(model, repo="bench/llama")
    print(f"model: {sum(p.stat().st_size for p in model.glob('*.safetensors')) / 1e6:.0f} MB")
    started: list[Process] = []
    try:
        warm, _, _ = start_alone(python, model, work, "fills the compile cache, discarded")
        warm.stop()
        alone, _, first = start_alone(python, model, work, "measured, nothing else running")
        alone.stop()
        runtime, runtime_base, ready = start_runtime(python, model, work)
        started.append(runtime)
        engine = engine_socket(runtime_base)
        added = latency(runtime_base, engine, options.rounds)
        alone, alone_base, _ = start_alone(python, model, work, "for the load")
        started.append(alone)
        rates = throughputs({"runtime": runtime_base, "alone": alone_base}, options.rounds)
    finally:
        for process in started:
            process.stop()
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    whole_ratio = statistics.median(rates["runtime"]["whole"]) / statistics.median(
        rates["alone"]["whole"]
    )
    streamed_ratio = statistics.median(rates["runtime"]["streamed"]) / statistics.median(
        rates["alone"]["streamed"]
    )
    print(f"\ntime to Ready {ready:.1f} s; vLLM alone's first completion {first:.1f} s")
    return goals.verdict(
        {
            TIME_TO_READY: ready / first,
            WHOLE: whole_ratio,
            STREAMED: streamed_ratio,
            LATENCY: added,
        }
    )


if __name__ == "__main__":
    sys.exit(goals.exit_status(main))
