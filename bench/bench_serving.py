"""Benchmark what `modeldeploy serve` gives concurrent clients: batched completions, time to
first token, probe latency under load, and batched embeddings, each against a baseline
measured in the same run.

One run (python bench/bench_serving.py [--size-gb 1.0] [--only completions|ttft|probes|
embeddings] [--probe-seconds 60] [--keep DIR]):

1. Build a ~1 GB random Llama (float32 safetensors, real byte-level BPE tokenizer) and a BERT
   encoder of all-MiniLM-L6-v2's shape (6 layers, hidden 384, 12 heads, intermediate 1536,
   random weights, a real WordPiece tokenizer, the sentence-transformers layout) under /tmp,
   each with a manifest as if fetched; removed at the end unless --keep.
2. Completions (one server, CPU). Eight different short prompts, each
   `POST /v1/completions` with `max_tokens: 64, temperature: 0, ignore_eos: true`, so every
   request makes exactly 64 tokens (`usage.completion_tokens` is checked). Baseline: the
   eight one after another from one client; then the eight at once from eight clients.
   Aggregate tokens/s = tokens made ÷ wall seconds from the first request sent to the last
   answer read. Anchor: transformers' own batched `generate` on the same eight prompts in a
   fresh process with the same model directory (left padding, the tokenizer's pad token,
   `do_sample=False`, `max_new_tokens = min_new_tokens = 64`), timed around `generate` only,
   after a warm-up `generate` of 2 tokens. The anchor runs before the server starts, so the
   two never share the CPU.
3. Time to first token (same server): the prompts are checked to be at most 32 tokens
   (`usage.prompt_tokens` of a 1-token request for each, which also warms every prompt up).
   Each request streams (`stream: true`, `max_tokens: 16`); TTFT runs from sending the
   request to reading the first `data:` chunk whose text is not empty (a random model's
   first tokens may decode to nothing, and how many depends on the prompt, so both sides
   use the same eight prompts). Baseline: the eight alone, one after another, p50 over the
   eight. Then the eight at once from eight clients, p50 over the eight.
4. Probes under load (same server, last): 32 streaming clients (`max_tokens: 64`) start
   at once while a prober polls `/livez` then `/readyz` every ~10 ms, each probe over a
   fresh connection (as kubelet does: urllib opens one per request). The prober is its own
   process (as kubelet is), so the clients' event loop and GIL here never delay it. A probe
   that errors or passes its 2 s timeout counts as 2 s. The goal is the p99 of the probes
   sent while all 32 requests were in flight (every one sent, none finished), for at most
   --probe-seconds; then the clients still streaming disconnect (the server stops their
   generation) and the server is stopped. Probes that did not answer 200 are counted.
5. Embeddings (its own server, `--task embeddings`): 32 different single-sentence
   `POST /v1/embeddings`, one after another from one client, then all 32 at once;
   throughput = 32 ÷ wall seconds, best of 3 rounds each (each round is a fraction of a
   second, so a noisy neighbour is filtered out), after 4 warm-up requests. Each answer is
   checked to hold one 384-float vector.

Servers run with `--device cpu --max-batch 32 --request-timeout 3600` (so a bound meant for
production does not cut a long benchmark request). Servers are stopped with SIGTERM (then
SIGKILL after 60 s) on every exit path, SIGTERM to this script included.

For context, each batching ratio is printed beside what batching gains the model alone on
this machine, measured in the same run (transformers, no server): for completions, 8 times
the time of one decode step for one row ÷ the time of one step for eight rows; for
embeddings, 32 times the encoder's forward pass on one sentence ÷ its pass on all 32 padded
together; for time to first token, the model's prefill of the 8 prompts padded together ÷ its
prefill of the median prompt alone (a first token cannot come before the pass that makes it).
Where the CPU is compute-bound at that batch size, plain forward passes cannot gain
more than this; the runtime passes it by the per-request costs (HTTP, JSON, tokenizing) that
concurrency overlaps and, on the CPU, by its packed weights (runtime/packing.py), whose small
products are cheaper. On the 2-core machines here it is below the goals.

Goals: completions 8 clients ÷ 1 client ≥ 4.0 and ÷ transformers' batched generate ≥ 1.0;
TTFT p50 with 8 clients ÷ alone ≤ 3.0; probe p99 under 32 streaming clients < 10 ms;
embeddings 32 concurrent ÷ one at a time ≥ 5.0. Then a PASS/FAIL line per goal; exit 1 if
any is missed, 2 if it cannot run here (torch or transformers not installed, bad
options); see bench/goals.py.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # appended, so the stdlib `operator` is never shadowed

from bench import goals  # noqa: E402
from bench.stats import p99_ms, spread  # noqa: E402
from tests.support.net import free_port  # noqa: E402

COMPLETIONS_VS_ONE = goals.Goal("completions: 8 clients tok/s / 1 client tok/s", ">=", 4.0)
COMPLETIONS_VS_HF = goals.Goal(
    "completions: 8 clients tok/s / transformers batched generate tok/s", ">=", 1.0
)
TTFT_VS_ONE = goals.Goal("TTFT p50: 8 clients at once / one client alone", "<=", 3.0)
PROBE_P99_LOAD = goals.Goal("probe p99 under 32 streaming clients", "<", 10.0, unit="ms")
EMBEDDINGS_VS_ONE = goals.Goal("embeddings: 32 concurrent req/s / one-at-a-time req/s", ">=", 5.0)

SECTIONS = ("completions", "ttft", "probes", "embeddings")
COMPLETION_TOKENS, TTFT_TOKENS, PROBE_TOKENS = 64, 16, 64
CLIENTS, PROBE_CLIENTS, EMBED_CLIENTS = 8, 32, 32
EMBED_ROUNDS, MAX_PROMPT_TOKENS = 3, 32
PROBE_TIMEOUT = 2.0  # seconds; a probe that errors or times out counts as this long
HTTP_TIMEOUT = 3600.0  # one benchmark request, however slow the engine

PROMPTS = [
    "The quick brown fox",
    "Once upon a time there was",
    "A model is ready only when",
    "Kubernetes restarts a pod whose",
    "Hello world, hello runtime,",
    "Tensors are loaded one by one and",
    "Sentence embeddings are pooled over",
    "Numbers 0 1 2 3 and punctuation",
]
SENTENCES = [
    f"{subject} {verb} {thing} {when}."
    for subject, verb, thing, when in zip(
        ["the operator", "a kubelet", "the runtime", "a client", "the fetcher", "one pod",
         "the scheduler", "a tokenizer"] * 4,
        ["reads", "restarts", "loads", "sends", "verifies", "serves", "places", "splits"] * 4,
        ["the weights", "a probe", "every tensor", "sentence embeddings"] * 8,
        ["at once", "again and again", "before the deadline", "when the node is ready",
         "after the warm-up", "in the morning", "one by one", "under load"] * 4,
        strict=True,
    )
]  # fmt: skip

# Transformers' batched generate on the same prompts: argv = model dir, prompts (JSON).
ANCHOR = """
import json, sys, time, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
path, prompts, new = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
tokenizer = AutoTokenizer.from_pretrained(path)
tokenizer.padding_side = "left"
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
batch = tokenizer(prompts, return_tensors="pt", padding=True)
with torch.inference_mode():
    model.generate(**batch, max_new_tokens=2, min_new_tokens=2, do_sample=False,
                   pad_token_id=tokenizer.pad_token_id)
    started = time.perf_counter()
    out = model.generate(**batch, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    seconds = time.perf_counter() - started
made = (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]


def step_seconds(rows):
    # One decode step of `rows` copies of the first prompt, median of 5 (the model alone).
    ids = tokenizer(prompts[:1] * rows, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
        cache, times = out.past_key_values, []
        for _ in range(5):
            started = time.perf_counter()
            out = model(input_ids=out.logits[:, -1:].argmax(-1), past_key_values=cache)
            times.append(time.perf_counter() - started)
            cache = out.past_key_values
    return sorted(times)[2]


def prefill_seconds(texts):
    # One forward pass over `texts` left-padded together, median of 5 (the model alone).
    ids = tokenizer(texts, return_tensors="pt", padding=True)
    times = []
    with torch.inference_mode():
        model(**ids)
        for _ in range(5):
            started = time.perf_counter()
            model(**ids)
            times.append(time.perf_counter() - started)
    return sorted(times)[2]


print(json.dumps({"seconds": seconds, "tokens": int(made), "threads": torch.get_num_threads(),
                  "step_1": step_seconds(1), "step_n": step_seconds(len(prompts)),
                  "prefill_1": sorted(prefill_seconds([p]) for p in prompts)[len(prompts) // 2],
                  "prefill_n": prefill_seconds(prompts)}))
"""

# The encoder's own forward pass, one sentence vs all of them padded together (median of 5):
# argv = model dir, sentences (JSON).
ENCODER_CEILING = """
import json, sys, time, torch
from transformers import AutoModel, AutoTokenizer
path, sentences = sys.argv[1], json.loads(sys.argv[2])
tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def seconds(texts):
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    times = []
    with torch.inference_mode():
        for _ in range(6):
            started = time.perf_counter()
            model(**batch)
            times.append(time.perf_counter() - started)
    return sorted(times[1:])[2]


print(json.dumps({"one": seconds(sentences[:1]), "all": seconds(sentences)}))
"""


# -- models ---------------------------------------------------------------------------------
def build_llama(root: Path, size_gb: float) -> Path:
    from tests.support import tinymodels

    directory = root / "llama"
    if not (directory / "config.json").exists():
        tinymodels.build_causal_lm(directory, approx_bytes=size_gb * 1e9)
        tinymodels.write_manifest_for(directory, repo="bench/llama")
    return directory


def build_minilm_shaped_encoder(root: Path) -> Path:
    """all-MiniLM-L6-v2's shape with random weights: `tinymodels.build_encoder` makes the
    WordPiece tokenizer and the sentence-transformers layout (its BERT is tiny and its
    signature fixes the shape), then a BERT of the real shape is saved over its weights."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tests.support import tinymodels

    directory = root / "encoder"
    if (directory / "config.json").exists():
        return directory
    tinymodels.build_encoder(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    tinymodels.write_sentence_transformers_layout(
        directory, dimension=384, normalize=True, pooling="mean"
    )
    tinymodels.write_manifest_for(directory, repo="bench/minilm-shaped")
    return directory


def weight_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.safetensors"))


# -- the server ------------------------------------------------------------------------------
def this_tree() -> dict[str, str]:
    """The environment for `python -m modeldeploy`: this checkout first on the path (the
    virtual environment's editable install may point at another one)."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


class Server:
    """`modeldeploy serve` in a child process: started and waited for Ready on enter,
    SIGTERM (SIGKILL after 60 s) on exit. Its output goes to a log file, shown on failure."""

    def __init__(self, model_dir: Path, workdir: Path, extra: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{self.port}.log"
        self.argv = [
            sys.executable, "-m", "modeldeploy", "serve", "--model-dir", str(model_dir),
            "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu",
            "--drain-timeout", "5", "--termination-log", str(workdir / "termination.log"),
            *extra,
        ]  # fmt: skip
        self.workdir = workdir
        self.child: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        print(f"serve: {' '.join(self.argv[3:])}")
        with self.log.open("wb") as log:
            self.child = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=this_tree()
            )
        try:
            self.wait_ready(deadline=time.monotonic() + 1800)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_ready(self, *, deadline: float) -> None:
        assert self.child is not None
        started = time.monotonic()
        while time.monotonic() < deadline:
            if self.child.poll() is not None:
                raise RuntimeError(f"serve exited with {self.child.returncode}:\n{self.tail()}")
            if answers_200(self.base + "/readyz"):
                print(f"serve: Ready after {time.monotonic() - started:.1f}s")
                return
            time.sleep(0.1)
        raise RuntimeError(f"serve not Ready in time:\n{self.tail()}")

    def stop(self) -> None:
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()
        try:
            self.child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as resp:
            return int(resp.status) == 200
    except OSError:  # HTTPError (a 503 while loading) and URLError are OSErrors
        return False


# -- clients -------------------------------------------------------------------------------
def client_session() -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    return aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0))


async def post_json(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with session.post(url, json=body) as resp:
        text = await resp.text()
        if resp.status != 200:
            raise RuntimeError(f"POST {url}: {resp.status} {text[:500]}")
        answer: dict[str, Any] = json.loads(text)
        return answer


def completion_body(prompt: str, max_tokens: int, *, stream: bool = False) -> dict[str, Any]:
    return {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "ignore_eos": True, "stream": stream}  # fmt: skip


async def complete(
    session: aiohttp.ClientSession, base: str, prompt: str, max_tokens: int
) -> dict[str, Any]:
    answer = await post_json(session, base + "/v1/completions", completion_body(prompt, max_tokens))
    made = answer["usage"]["completion_tokens"]
    if made != max_tokens:
        raise RuntimeError(f"{prompt!r}: {made} completion tokens, expected {max_tokens}")
    return answer


@dataclass
class Stream:
    """One streamed completion: when it was sent, its first text and its end
    (`time.monotonic()`, the clock the prober's process reads too)."""

    sent: float = 0.0
    first_text: float = math.nan
    finished: float = math.nan
    chunks: int = 0

    @property
    def ttft(self) -> float:
        return self.first_text - self.sent


async def stream(
    session: aiohttp.ClientSession, base: str, prompt: str, max_tokens: int, record: Stream
) -> None:
    record.sent = time.monotonic()
    async with session.post(
        base + "/v1/completions", json=completion_body(prompt, max_tokens, stream=True)
    ) as resp:
        if resp.status != 200:
            raise RuntimeError(f"stream {prompt!r}: {resp.status} {await resp.text()}")
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                raise RuntimeError(f"stream {prompt!r}: {chunk['error']}")
            text = "".join(choice.get("text") or "" for choice in chunk.get("choices", []))
            if text:
                record.chunks += 1
                if math.isnan(record.first_text):
                    record.first_text = time.monotonic()
    record.finished = time.monotonic()


# -- 2. completions --------------------------------------------------------------------------
def run_child(script: str, what: str, *args: str) -> dict[str, Any]:
    """Run `script` in a fresh interpreter (never sharing the CPU with a server); its last
    output line is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_anchor(model_dir: Path) -> dict[str, Any]:
    args = (str(model_dir), json.dumps(PROMPTS), str(COMPLETION_TOKENS))
    result = run_child(ANCHOR, "transformers generate", *args)
    if result["tokens"] != COMPLETION_TOKENS * len(PROMPTS):
        raise RuntimeError(f"transformers generate made {result['tokens']} tokens")
    return result


async def completions(base: str) -> dict[str, float]:
    async with client_session() as session:
        await complete(session, base, PROMPTS[0], 4)  # warm-up
        started = time.perf_counter()
        for prompt in PROMPTS:
            await complete(session, base, prompt, COMPLETION_TOKENS)
        one = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(*(complete(session, base, p, COMPLETION_TOKENS) for p in PROMPTS))
        many = time.perf_counter() - started
    tokens = COMPLETION_TOKENS * len(PROMPTS)
    return {"tokens": tokens, "one_seconds": one, "many_seconds": many}


def completions_section(server: Server, anchor: dict[str, Any]) -> dict[goals.Goal, float]:
    timed = asyncio.run(completions(server.base))
    tokens = timed["tokens"]
    one, many = tokens / timed["one_seconds"], tokens / timed["many_seconds"]
    hf = anchor["tokens"] / anchor["seconds"]
    print(f"\ncompletions ({len(PROMPTS)} prompts x {COMPLETION_TOKENS} tokens, greedy):")
    print(f"  1 client, one after another : {timed['one_seconds']:7.2f}s  {one:8.2f} tok/s")
    print(
        f"  {CLIENTS} clients at once          : {timed['many_seconds']:7.2f}s  {many:8.2f} tok/s"
    )
    print(f"  transformers batched generate: {anchor['seconds']:7.2f}s  {hf:8.2f} tok/s "
          f"(torch threads {anchor['threads']})")  # fmt: skip
    ceiling = len(PROMPTS) * anchor["step_1"] / anchor["step_n"]
    print(f"  ratio 8 clients / 1 client   : {many / one:.3f}  (goal >= 4.0)")
    print(f"  ratio 8 clients / generate   : {many / hf:.3f}  (goal >= 1.0)")
    print(f"  transformers alone, 8 rows vs 1: {ceiling:.3f}  (one decode step, no server, "
          f"weights not packed: {anchor['step_1'] * 1e3:.1f} ms for 1 row, "
          f"{anchor['step_n'] * 1e3:.1f} ms for {len(PROMPTS)})")  # fmt: skip
    return {COMPLETIONS_VS_ONE: many / one, COMPLETIONS_VS_HF: many / hf}


# -- 3. time to first token ------------------------------------------------------------------
async def ttft(base: str) -> tuple[list[float], list[float]]:
    async with client_session() as session:
        for prompt in PROMPTS:  # warms each prompt up and checks its length
            answer = await complete(session, base, prompt, 1)
            if answer["usage"]["prompt_tokens"] > MAX_PROMPT_TOKENS:
                raise RuntimeError(f"{prompt!r}: {answer['usage']['prompt_tokens']} tokens")
        alone = []
        for prompt in PROMPTS:  # the same prompts: how soon text shows depends on the prompt
            record = Stream()
            await stream(session, base, prompt, TTFT_TOKENS, record)
            alone.append(record.ttft)
        records = [Stream() for _ in PROMPTS]
        await asyncio.gather(
            *(
                stream(session, base, p, TTFT_TOKENS, r)
                for p, r in zip(PROMPTS, records, strict=True)
            )
        )
    return alone, [r.ttft for r in records]


def ttft_section(server: Server, anchor: dict[str, Any]) -> dict[goals.Goal, float]:
    alone, together = asyncio.run(ttft(server.base))
    p50_alone, p50_together = statistics.median(alone), statistics.median(together)
    print(f"\ntime to first token (streamed, max_tokens {TTFT_TOKENS}):")
    print(f"  each prompt alone, {len(alone)} : p50 {p50_alone * 1e3:8.1f} ms  "
          f"({', '.join(f'{x * 1e3:.0f}' for x in alone)})")  # fmt: skip
    print(f"  {CLIENTS} clients at once      : p50 {p50_together * 1e3:8.1f} ms  "
          f"max {max(together) * 1e3:.1f} ms  "
          f"({', '.join(f'{x * 1e3:.0f}' for x in sorted(together))})")  # fmt: skip
    print(f"  ratio                    : {p50_together / p50_alone:.3f}  (goal <= 3.0)")
    if anchor:
        print(
            f"  transformers alone, prefill of {len(PROMPTS)} prompts together vs one: "
            f"{anchor['prefill_n'] / anchor['prefill_1']:.3f}  (one forward pass, no server, "
            f"unpacked: {anchor['prefill_1'] * 1e3:.1f} ms for the median prompt alone, "
            f"{anchor['prefill_n'] * 1e3:.1f} ms for {len(PROMPTS)} padded together)"
        )
    return {TTFT_VS_ONE: p50_together / p50_alone}


# -- 4. probes under load --------------------------------------------------------------------
# A prober in its own process, as kubelet is (the clients' event loop and GIL in this
# process must not show up in probe latencies): GET /livez then /readyz every ~10 ms, each over
# a fresh connection (urllib opens one per request), until stdin closes; then one JSON line of
# [sent (time.monotonic), seconds, status] per probe. An error or timeout: status 0, counted
# as the timeout. argv = base URL, timeout seconds.
PROBER = """
import json, sys, threading, time, urllib.error, urllib.request
base, timeout = sys.argv[1], float(sys.argv[2])
done, records = threading.Event(), []
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
print("started", flush=True)
while not done.is_set():
    for path in ("/livez", "/readyz"):
        sent, clock = time.monotonic(), time.perf_counter()
        try:
            with urllib.request.urlopen(base + path, timeout=timeout) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        seconds = time.perf_counter() - clock if status else timeout
        records.append([sent, seconds, status])
    done.wait(0.01)
print(json.dumps(records), flush=True)
"""


@dataclass(frozen=True)
class ProbeRecord:
    sent: float  # time.monotonic(), shared by every process on the machine
    seconds: float
    status: int  # 0: no answer (error or timeout)


class Prober:
    """`PROBER` in a child process: started on enter, stopped (stdin closed) by `records`."""

    def __init__(self, base: str) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-c", PROBER, base, str(PROBE_TIMEOUT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.child.stdout is not None
        if self.child.stdout.readline().strip() != "started":
            raise RuntimeError(f"prober failed (exit {self.child.wait()})")

    def records(self) -> list[ProbeRecord]:
        out, _ = self.child.communicate(timeout=PROBE_TIMEOUT * 2 + 30)
        return [ProbeRecord(*row) for row in json.loads(out.strip().splitlines()[-1])]

    def kill(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()


async def probes_load(base: str, cap: float) -> dict[str, Any]:
    """32 streams at once under the prober; the window in which all 32 were in flight."""
    prober = Prober(base)
    try:
        async with client_session() as session:
            records = [Stream() for _ in range(PROBE_CLIENTS)]
            prompts = [PROMPTS[i % len(PROMPTS)] for i in range(PROBE_CLIENTS)]
            load_start = time.monotonic()
            tasks = [
                asyncio.ensure_future(stream(session, base, p, PROBE_TOKENS, r))
                for p, r in zip(prompts, records, strict=True)
            ]
            done, pending = await asyncio.wait(
                tasks, timeout=cap, return_when=asyncio.FIRST_COMPLETED
            )
            window_end = time.monotonic()
            for task in pending:
                task.cancel()  # disconnects: the server stops those generations
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                task.result()  # a failed stream fails the benchmark
        probes = prober.records()
    finally:
        prober.kill()
    sent = [r.sent for r in records if r.sent]
    return {
        "window": (max(sent) if len(sent) == PROBE_CLIENTS else math.inf, window_end),
        "load": (load_start, window_end),
        "probes": probes,
        "finished": sum(1 for r in records if not math.isnan(r.finished)),
        "first_texts": sum(1 for r in records if not math.isnan(r.first_text)),
    }


def probes_section(server: Server, cap: float) -> dict[goals.Goal, float]:
    run = asyncio.run(probes_load(server.base, cap))
    start, end = run["window"]
    in_window = [p for p in run["probes"] if start <= p.sent <= end]
    in_load = [p for p in run["probes"] if run["load"][0] <= p.sent <= run["load"][1]]
    bad = [p for p in in_load if p.status != 200]
    print(f"\nprobes under load ({PROBE_CLIENTS} streaming clients, max_tokens {PROBE_TOKENS}; "
          f"a prober process, fresh connection per probe):")  # fmt: skip
    print(f"  all {PROBE_CLIENTS} in flight for {max(0.0, end - start):.2f}s; then "
          f"{run['finished']} had finished, {run['first_texts']} had had text "
          f"(the rest disconnected)")  # fmt: skip
    print(f"  probe p50 / p99 / max, all in flight (ms): "
          f"{spread([p.seconds for p in in_window])}")  # fmt: skip
    print(f"  probes not 200 during the load: {len(bad)}"
          + (f" (statuses {sorted({p.status for p in bad})})" if bad else ""))  # fmt: skip
    return {PROBE_P99_LOAD: p99_ms([p.seconds for p in in_window])}


# -- 5. embeddings ---------------------------------------------------------------------------
async def embed(session: aiohttp.ClientSession, base: str, sentence: str) -> None:
    answer = await post_json(session, base + "/v1/embeddings", {"input": sentence})
    vectors = [item["embedding"] for item in answer["data"]]
    if len(vectors) != 1 or len(vectors[0]) != 384:
        raise RuntimeError(f"embeddings: expected one 384-float vector, got {answer}")


async def embeddings(base: str) -> tuple[list[float], list[float]]:
    one, many = [], []
    async with client_session() as session:
        for sentence in SENTENCES[:4]:
            await embed(session, base, sentence)  # warm-up
        for _ in range(EMBED_ROUNDS):
            started = time.perf_counter()
            for sentence in SENTENCES:
                await embed(session, base, sentence)
            one.append(time.perf_counter() - started)
            started = time.perf_counter()
            await asyncio.gather(*(embed(session, base, s) for s in SENTENCES))
            many.append(time.perf_counter() - started)
    return one, many


def encoder_ceiling(model_dir: Path) -> dict[str, Any]:
    return run_child(ENCODER_CEILING, "the encoder's own forward pass", str(model_dir),
                     json.dumps(SENTENCES))  # fmt: skip


def embeddings_section(server: Server, ceiling: dict[str, Any]) -> dict[goals.Goal, float]:
    one, many = asyncio.run(embeddings(server.base))
    rate_one, rate_many = len(SENTENCES) / min(one), len(SENTENCES) / min(many)
    print(f"\nembeddings ({len(SENTENCES)} single-sentence requests, best of {EMBED_ROUNDS}):")
    print(f"  one at a time : {', '.join(f'{s:.3f}' for s in one)} s  -> {rate_one:8.1f} req/s")
    print(f"  {EMBED_CLIENTS} at once    : {', '.join(f'{s:.3f}' for s in many)} s  "
          f"-> {rate_many:8.1f} req/s")  # fmt: skip
    print(f"  ratio         : {rate_many / rate_one:.3f}  (goal >= 5.0)")
    bound = len(SENTENCES) * ceiling["one"] / ceiling["all"]
    print(f"  transformers alone, 32 vs 1: {bound:.3f}  (one forward pass, no server, unpacked: "
          f"{ceiling['one'] * 1e3:.1f} ms for 1 sentence, "
          f"{ceiling['all'] * 1e3:.1f} ms for {len(SENTENCES)} padded together)")  # fmt: skip
    return {EMBEDDINGS_VS_ONE: rate_many / rate_one}


# -- main ------------------------------------------------------------------------------------
def sigterm_exits(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` stops its server and removes files."""
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="the Llama's size (float32)")
    parser.add_argument("--only", choices=SECTIONS, help="run one part only")
    parser.add_argument("--probe-seconds", type=float, default=60.0,
                        help="longest probe window under load (default 60)")  # fmt: skip
    parser.add_argument("--keep", type=Path,
                        help="build the models here, or reuse those already here (whatever "
                             "--size-gb says); not deleted")  # fmt: skip
    args = parser.parse_args()
    if args.size_gb <= 0 or args.probe_seconds <= 0:
        parser.error("--size-gb and --probe-seconds must be above 0")
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise goals.SetupError(f"{' and '.join(missing)} not installed (the runtime extra)")
    signal.signal(signal.SIGTERM, sigterm_exits)
    sections = [args.only] if args.only else list(SECTIONS)
    extra = ["--max-batch", "32", "--request-timeout", str(int(HTTP_TIMEOUT))]
    print(f"cores: {os.cpu_count()}; serve flags added: {' '.join(extra)}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    root = args.keep or workdir
    found: dict[goals.Goal, float] = {}
    try:
        if set(sections) & {"completions", "ttft", "probes"}:
            found |= llama_sections(root, workdir, sections, extra, args)
        if "embeddings" in sections:
            model_dir = build_minilm_shaped_encoder(root)
            print(f"encoder: {model_dir} ({weight_bytes(model_dir) / 1e6:.1f} MB float32)")
            ceiling = encoder_ceiling(model_dir)  # before the server: they never share the CPU
            with Server(model_dir, workdir, ["--task", "embeddings", *extra]) as server:
                found |= embeddings_section(server, ceiling)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return goals.verdict(found)


def llama_sections(
    root: Path, workdir: Path, sections: list[str], extra: list[str], args: argparse.Namespace
) -> dict[goals.Goal, float]:
    model_dir = build_llama(root, args.size_gb)
    print(f"llama: {model_dir} ({weight_bytes(model_dir) / 1e9:.3f} GB float32)")
    anchor = run_anchor(model_dir) if {"completions", "ttft"} & set(sections) else {}
    found: dict[goals.Goal, float] = {}
    with Server(model_dir, workdir, extra) as server:
        if "completions" in sections:
            found |= completions_section(server, anchor)
        if "ttft" in sections:
            found |= ttft_section(server, anchor)
        if "probes" in sections:
            found |= probes_section(server, args.probe_seconds)
    return found


if __name__ == "__main__":
    sys.exit(goals.exit_status(main))
