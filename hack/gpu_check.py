#!/usr/bin/env python3
"""The runtime on a real device, measured end to end: load, warm-up, throughput, drain, memory.

Built for a GPU machine that reaches no registry: everything it needs is this repository and
the torch/transformers already installed there. It

1. builds a random Llama of about `--size-gb` with a real (locally trained) tokenizer and a
   manifest (`tests/support/tinymodels.py`), so the runtime loads it as a fetched model;
2. times a raw copy of the same number of bytes (the weights' files) to the device: a plain
   tensor `.to("cuda")`, synchronized, best of 3, in a fresh process (on CPU: a host copy);
3. starts `python -m modeldeploy serve --device DEVICE` and reads `loadSeconds` and
   `warmupSeconds` from its `/status` `timings`: load time ÷ raw copy time says how far the
   loader is from the bus;
4. measures completion tokens/s with 1 client and with 16 concurrent clients
   (`/v1/completions`, max_tokens 64, temperature 0, ignore_eos);
5. sends SIGTERM, checks the process drains and exits 0, and (CUDA only) that the GPU memory
   in use is back where it was before the start.

Prints one line per result, then the JSON summary; exits 1 when a check fails.

    python3 hack/gpu_check.py                       # CUDA, ~1 GB model
    python3 hack/gpu_check.py --device cpu --size-gb 0.02   # the script itself, here
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modeldeploy import runtime_report  # noqa: E402  (the repository, not an installed copy)

PROMPT = "hello world, the model says"
MAX_TOKENS = 64
MEMORY_SLACK = 256 * 2**20  # bytes of device memory "in use" that may differ after the exit
RAW_COPY = """
import sys, time, torch
n, device = int(sys.argv[1]), sys.argv[2]
host = torch.ones(n, dtype=torch.uint8)
def sync():
    if device == "cuda":
        torch.cuda.synchronize()
best = float("inf")
for _ in range(3):
    sync()
    start = time.perf_counter()
    copy = host.to("cuda") if device == "cuda" else host.clone()
    sync()
    best = min(best, time.perf_counter() - start)
    del copy
print(best)
"""
USED_MEMORY = "import torch; free, total = torch.cuda.mem_get_info(); print(total - free)"


def say(line: str) -> None:
    print(line, flush=True)


def child_env() -> dict[str, str]:
    """Run this checkout's modeldeploy (no install needed), loopback never proxied."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}


def build_model(directory: Path, size_gb: float) -> int:
    """The model and its manifest; returns the bytes of its weight files."""
    from tests.support import tinymodels

    tinymodels.build_causal_lm(directory, approx_bytes=size_gb * 1e9)
    tinymodels.write_manifest_for(directory, repo="hack/gpu-check")
    return sum(p.stat().st_size for p in directory.glob("*.safetensors"))


def raw_copy_seconds(nbytes: int, device: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", RAW_COPY, str(nbytes), device],
        check=True, capture_output=True, text=True, env=child_env(),
    )  # fmt: skip
    return float(out.stdout.split()[-1])


def used_device_memory() -> int:
    """Bytes in use on GPU 0, read by a fresh process (nvidia-smi when it is there)."""
    if shutil.which("nvidia-smi"):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return int(out.stdout.strip()) * 2**20
    out = subprocess.run(
        [sys.executable, "-c", USED_MEMORY], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http(url: str, body: dict[str, Any] | None = None, *, timeout: float = 600) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode} before Ready")
        try:
            doc: dict[str, Any] = http(base + "/status", timeout=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
            continue
        if doc["state"] == runtime_report.State.READY:
            return doc
        if doc["state"] == runtime_report.State.FAILED:
            raise RuntimeError(f"the runtime failed: {doc.get('error')}")
        time.sleep(0.2)
    raise RuntimeError(f"not Ready after {timeout:.0f} s")


def tokens_per_second(base: str, clients: int, rounds: int) -> float:
    """Completion tokens per wall second with `clients` concurrent clients, `rounds` each."""
    body = {"prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0, "ignore_eos": True}

    def client(_: int) -> int:
        total = 0
        for _round in range(rounds):
            usage = http(base + "/v1/completions", body)["usage"]
            total += int(usage["completion_tokens"])
        return total

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(client, range(clients)))
    if tokens != clients * rounds * MAX_TOKENS:
        raise RuntimeError(f"{tokens} tokens came back, not {clients * rounds * MAX_TOKENS}")
    return tokens / (time.perf_counter() - start)


def drain(process: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, float]:
    start = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None, time.perf_counter() - start
    return code, time.perf_counter() - start


def run(args: argparse.Namespace, work: Path, summary: dict[str, Any]) -> list[str]:
    """Every step in order, filling `summary`; returns the failed checks (empty: all passed)."""
    failures: list[str] = []
    before = used_device_memory() if args.device == "cuda" else None
    copy = prepare(args, work / "model", summary)
    port = free_port()
    argv = [
        sys.executable, "-m", "modeldeploy", "serve", "--model-dir", str(work / "model"),
        "--device", args.device, "--host", "127.0.0.1", "--port", str(port),
        "--termination-log", str(work / "termination.log"), "--served-model-name", "gpu-check",
    ]  # fmt: skip
    with (work / "serve.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=child_env())
        try:
            measure(args, f"http://127.0.0.1:{port}", process, copy, summary)
        except (RuntimeError, urllib.error.URLError, OSError, KeyError) as exc:
            failures.append(f"serving: {exc}")
        finally:
            code, seconds = drain(process, args.drain_timeout)
    summary.update(exitCode=code, drainSeconds=round(seconds, 3))
    say(f"SIGTERM: exit code {code} after {seconds:.2f} s")
    if code != 0:
        failures.append(f"serve did not drain and exit 0 (exit code {code})")
    if before is None:
        say("GPU memory release: skipped (device cpu: no GPU memory to give back)")
    else:
        failures += memory_released(before, summary)
    return failures


def prepare(args: argparse.Namespace, model: Path, summary: dict[str, Any]) -> float:
    """Build the model; returns the raw copy time of its weights' bytes."""
    started = time.perf_counter()
    nbytes = build_model(model, args.size_gb)
    summary.update(weightBytes=nbytes, buildSeconds=round(time.perf_counter() - started, 3))
    say(f"model: {nbytes / 1e9:.3f} GB of weights, built in {summary['buildSeconds']} s")
    copy = raw_copy_seconds(nbytes, args.device)
    summary["rawCopySeconds"] = round(copy, 6)
    say(f"raw copy of the same bytes to {args.device}: {copy:.4f} s (best of 3)")
    return copy


def measure(
    args: argparse.Namespace,
    base: str,
    process: subprocess.Popen[bytes],
    copy: float,
    summary: dict[str, Any],
) -> None:
    """Wait for Ready; read load and warm-up from /status; time 1 and 16 clients."""
    doc = wait_ready(base, process, args.ready_timeout)
    timings = doc["timings"]
    load = timings[runtime_report.SECONDS_IN[runtime_report.State.LOADING]]
    warmup = timings[runtime_report.SECONDS_IN[runtime_report.State.WARMING_UP]]
    summary.update(
        device=doc.get("device"), dtype=doc.get("dtype"), loadSeconds=load,
        warmupSeconds=warmup, startupSeconds=timings[runtime_report.STARTUP_SECONDS],
        loadOverRawCopy=round(load / copy, 2) if load and copy else None,
    )  # fmt: skip
    say(f"Ready on {doc.get('device')} ({doc.get('dtype')}): load {load} s "
        f"= {summary['loadOverRawCopy']}x the raw copy; warm-up {warmup} s")  # fmt: skip
    http(base + "/v1/completions", {"prompt": PROMPT, "max_tokens": 4})  # first-call costs
    one = tokens_per_second(base, 1, args.rounds)
    many = tokens_per_second(base, 16, args.rounds)
    summary.update(
        tokensPerSecond1=round(one, 1), tokensPerSecond16=round(many, 1),
        concurrencyGain=round(many / one, 2),
    )  # fmt: skip
    say(f"tokens/s: {one:.1f} with 1 client, {many:.1f} with 16 ({many / one:.2f}x)")


def memory_released(before: int, summary: dict[str, Any]) -> list[str]:
    """GPU memory in use after the exit against before the start (a fresh reading each)."""
    after = used_device_memory()
    released = after - before <= MEMORY_SLACK
    summary.update(
        memoryUsedBeforeBytes=before, memoryUsedAfterBytes=after, memoryReleased=released
    )
    verdict = "released" if released else "NOT released"
    say(f"GPU memory in use: {before / 2**20:.0f} MiB before the start, "
        f"{after / 2**20:.0f} MiB after the exit: {verdict}")  # fmt: skip
    if released:
        return []
    return [f"GPU memory not released: {(after - before) / 2**20:.0f} MiB still in use"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--size-gb", type=float, default=1.0, help="model size (default 1.0)")
    parser.add_argument("--rounds", type=int, default=2, help="requests per client (default 2)")
    parser.add_argument("--ready-timeout", type=float, default=600)
    parser.add_argument("--drain-timeout", type=float, default=120)
    parser.add_argument("--workdir", type=Path, help="keep the model and log here")
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    args = parser.parse_args(argv)
    if not 0 < args.size_gb <= 64 or args.rounds < 1:
        parser.error("--size-gb must be in (0, 64] and --rounds at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            say("FAIL: --device cuda but torch sees no CUDA device (try --device cpu)")
            return 1
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"requestedDevice": args.device, "sizeGb": args.size_gb}
    try:
        failures = run(args, work, summary)
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
        failures = [f"setup: {exc}"]
    if failures and (work / "serve.log").exists():
        say("--- last lines of serve.log ---")
        say("\n".join((work / "serve.log").read_text(errors="replace").splitlines()[-30:]))
    summary["failures"] = failures
    summary["ok"] = not failures
    for failure in failures:
        say(f"FAIL: {failure}")
    say("PASS" if not failures else "FAILED")
    text = json.dumps(summary, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.workdir:
        say(f"model and serve.log kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
