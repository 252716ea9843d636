"""Benchmark `modeldeploy serve` start-up against plain transformers, and probe latency.

One run (python bench/bench_runtime.py [--size-gb 1.0] [--rounds 2] [--keep DIR]):

1. Build a ~1 GB random Llama (float32 safetensors, real tokenizer) under /tmp with a
   manifest, as if fetched; removed at the end unless --keep.
2. Baseline: a fresh `python` that imports transformers, runs `from_pretrained` and one
   `generate` of 8 tokens (what a hand-written server does before it could say "ready").
3. `modeldeploy serve` on CPU: spawn → first `/readyz` 200 (verify + load + warm-up of 8
   tokens included). Meanwhile a client thread polls `/livez` and `/readyz` every ~10 ms and
   records each latency (connection refused before the port opens is not counted).
4. With CUDA: serve with --device cuda; its load seconds ÷ a raw host-to-device copy of the
   same number of bytes.

Both sides are timed from process spawn, so both pay interpreter start and imports. Goals:
time-to-Ready ÷ baseline ≤ 1.0 (best round of each); probe p99 < 20 ms, over the whole start
and over the part after the imports (reading weights + warm-up). The CUDA figures have no goal.
Then a PASS/FAIL line per goal; exit 1 if any is missed, 2 if it cannot run here (torch or
transformers not installed, bad options); see bench/goals.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # appended, so the stdlib `operator` is never shadowed

from bench import goals  # noqa: E402
from tests.support.net import free_port  # noqa: E402

READY_VS_BASELINE = goals.Goal("time-to-Ready / baseline (best of each)", "<=", 1.0)
PROBE_P99_START = goals.Goal("probe p99 over the whole start", "<", 20.0, unit="ms")
PROBE_P99_WEIGHTS = goals.Goal("probe p99 while reading weights + warm-up", "<", 20.0, unit="ms")

BASELINE = """
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
path = sys.argv[1]
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
ids = tokenizer("Hello", return_tensors="pt")
with torch.inference_mode():
    model.generate(**ids, max_new_tokens=8, min_new_tokens=8, do_sample=False)
print("READY", flush=True)
"""


def build_model(root: Path, size_gb: float) -> Path:
    sys.path.append(str(ROOT))  # appended, so the stdlib `operator` is never shadowed
    from tests.support import tinymodels

    directory = tinymodels.build_causal_lm(root / "model", approx_bytes=size_gb * 1e9)
    tinymodels.write_manifest_for(directory, repo="bench/llama-1gb")
    return directory


def run_baseline(model_dir: Path, workdir: Path) -> float:
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", BASELINE, str(model_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith(b"READY"):
            elapsed = time.perf_counter() - started
            break
    else:
        raise RuntimeError(f"baseline failed (exit {child.wait()})")
    child.wait()
    return elapsed


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class ProbePoller(threading.Thread):
    """Polls /livez and /readyz every ~10 ms; records latencies and the first /readyz 200."""

    def __init__(self, base: str, started: float) -> None:
        super().__init__(daemon=True)
        self.base, self.started = base, started
        self.latencies: list[float] = []
        self.sent_at: list[float] = []  # wall-clock time of each answered probe
        self.failures = 0
        self.ready_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for path in ("/livez", "/readyz"):
                sent = time.perf_counter()
                try:
                    status, _ = get(self.base + path, timeout=2.0)
                except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                    if "refused" not in str(exc):
                        self.failures += 1
                    continue
                now = time.perf_counter()
                self.latencies.append(now - sent)
                self.sent_at.append(time.time())
                if path == "/readyz" and status == 200 and self.ready_at is None:
                    self.ready_at = now - self.started
            self.stop.wait(0.01)


def run_serve(model_dir: Path, workdir: Path, *, device: str) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable, "-m", "modeldeploy", "serve", "--model-dir", str(model_dir),
        "--host", "127.0.0.1", "--port", str(port), "--device", device,
        "--termination-log", str(workdir / "termination.log"),
    ]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir
    )
    poller = ProbePoller(base, started)
    poller.start()
    try:
        while poller.ready_at is None:
            if child.poll() is not None:
                raise RuntimeError(f"serve exited with {child.returncode}")
            time.sleep(0.01)
        time.sleep(0.3)  # a few probes after Ready too
        poller.stop.set()
        poller.join()
        status = json.loads(get(base + "/status")[1])
    finally:
        child.terminate()
        child.wait(timeout=60)
    return {"ready": poller.ready_at, "latencies": poller.latencies,
            "weights": weight_phase(poller, status),
            "failures": poller.failures, "status": status}  # fmt: skip


def weight_phase(poller: ProbePoller, status: dict[str, Any]) -> list[float]:
    """Latencies of probes answered while weights were read, built and warmed up, i.e.
    after the one-off import of torch/transformers (whose C-level loading holds the GIL)."""
    from datetime import datetime

    ready = next(h for h in status["history"] if h["state"] == "Ready")
    ready_at = datetime.fromisoformat(ready["at"]).timestamp()
    load = status["load"]
    span = load["readSeconds"] + load["buildSeconds"] + (status["timings"]["warmupSeconds"] or 0)
    return [lat for lat, at in zip(poller.latencies, poller.sent_at, strict=True)
            if ready_at - span <= at <= ready_at]  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p99_ms(values: list[float]) -> float:
    """The 99th percentile in milliseconds; NaN (which misses any goal) for no values."""
    return percentile(values, 0.99) * 1e3 if values else math.nan


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p99 = statistics.median(values) * 1e3, p99_ms(values)
    return f"{p50:.2f} / {p99:.2f} / {max(values) * 1e3:.2f}  (n={len(values)})"


def raw_copy_seconds(total_bytes: int) -> float:
    import torch

    host = torch.empty(total_bytes, dtype=torch.uint8).fill_(1)
    torch.cuda.synchronize()
    started = time.perf_counter()
    host.to("cuda")
    torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build/reuse the model here; do not delete")
    args = parser.parse_args()
    if args.rounds < 1 or args.size_gb <= 0:
        parser.error("--rounds must be at least 1 and --size-gb above 0")
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise goals.SetupError(f"{' and '.join(missing)} not installed (the runtime extra)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    root = args.keep or workdir
    try:
        model_dir = root / "model"
        if not (model_dir / "config.json").exists():
            model_dir = build_model(root, args.size_gb)
        size = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
        print(f"model: {model_dir} ({size / 1e9:.3f} GB float32), cores: {os.cpu_count()}")
        baselines, serves = [], []
        for round_ in range(args.rounds):
            baselines.append(run_baseline(model_dir, workdir))
            serves.append(run_serve(model_dir, workdir, device="cpu"))
            print(f"round {round_ + 1}: baseline {baselines[-1]:.2f}s, "
                  f"serve ready {serves[-1]['ready']:.2f}s")  # fmt: skip
        report(baselines, serves)
        cuda_report(model_dir, workdir, size)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return goals.verdict(measured(baselines, serves))


def measured(baselines: list[float], serves: list[dict[str, Any]]) -> dict[goals.Goal, float]:
    return {
        READY_VS_BASELINE: min(s["ready"] for s in serves) / min(baselines),
        PROBE_P99_START: p99_ms([x for s in serves for x in s["latencies"]]),
        PROBE_P99_WEIGHTS: p99_ms([x for s in serves for x in s["weights"]]),
    }


def report(baselines: list[float], serves: list[dict[str, Any]]) -> None:
    latencies = [x for s in serves for x in s["latencies"]]
    weights = [x for s in serves for x in s["weights"]]
    best_ready, best_base = min(s["ready"] for s in serves), min(baselines)
    timings = serves[-1]["status"]["timings"]
    load = serves[-1]["status"]["load"]
    rows = [
        ("baseline from_pretrained + generate (s)", ", ".join(f"{b:.2f}" for b in baselines)),
        ("serve time-to-Ready (s)", ", ".join(f"{s['ready']:.2f}" for s in serves)),
        ("ratio best/best", f"{best_ready / best_base:.3f}"),
        ("ratio per round",
         ", ".join(f"{s['ready'] / b:.3f}" for s, b in zip(serves, baselines, strict=True))),
        ("serve verify / load / warm-up (s)",
         f"{timings['verifySeconds']:.3f} / {timings['loadSeconds']:.2f} / "
         f"{timings['warmupSeconds']:.2f}"),
        ("serve tensor read / model build (s)",
         f"{load.get('readSeconds', 0):.2f} / {load.get('buildSeconds', 0):.2f}"),
        ("probes answered", f"{len(latencies)} (errors/timeouts: "
                            f"{sum(s['failures'] for s in serves)})"),
        ("probe p50 / p99 / max, whole start (ms)", spread(latencies)),
        ("  ... while reading weights + warm-up (ms)", spread(weights)),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def cuda_report(model_dir: Path, workdir: Path, size: int) -> None:
    import torch

    if not torch.cuda.is_available():
        print("CUDA: not available here; load ÷ host-to-device copy not measured")
        return
    result = run_serve(model_dir, workdir, device="cuda")
    load = result["status"]["timings"]["loadSeconds"]
    read = result["status"]["load"].get("readSeconds", load)
    copy = raw_copy_seconds(size)
    print(f"CUDA: time-to-Ready {result['ready']:.2f}s, load {load:.2f}s (tensor read {read:.2f}s),"
          f" raw H2D copy of {size / 1e9:.2f} GB {copy:.3f}s; load/copy {load / copy:.1f}, "
          f"read/copy {read / copy:.1f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(goals.exit_status(main))
