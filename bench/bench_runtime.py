"""Benchmark `modeldeploy serve` start-up against plain transformers, probe latency, and what
reading the weights into process memory costs against leaving them on a map of the file.

One run (python bench/bench_runtime.py [--size-gb 1.0] [--rounds 2] [--load-mb 300]
[--load-rounds 3] [--only start|load] [--keep DIR]):

1. Build a ~1 GB random Llama (float32 safetensors, real tokenizer) under /tmp with a
   manifest, as if fetched; removed at the end unless --keep.
2. Baseline: a fresh `python` that imports transformers, runs `from_pretrained` and one
   `generate` of 8 tokens (what a hand-written server does before it could say "ready").
3. `modeldeploy serve` on CPU: spawn → first `/readyz` 200 (verify + load + warm-up of 8
   tokens included). Meanwhile a client thread polls `/livez` and `/readyz` every ~10 ms and
   records each latency (connection refused before the port opens is not counted).
4. With CUDA: serve with --device cuda; its load seconds ÷ a raw host-to-device copy of the
   same number of bytes.
5. Load cost (`--load-mb`, a separate ~300 MB float32 Llama): the runtime's loader on CPU in
   a fresh process, against the same loader with its former tensor reading swapped in
   (safetensors' `safe_open`: tensors left on a memory map of the file, one byte per page
   read; see `LOAD_CHILD`), taking turns for `--load-rounds` rounds. Measured in the child:
   tensor read + model build seconds (the tokenizer and the imports are done before), and
   the peak RSS growth while loading (VmHWM reset through /proc/self/clear_refs just
   before), plus RssAnon / RssFile after. The file is in the page cache for every round (it
   was just written): this is the memory-copy cost, not a disk's.

In 2-3 both sides are timed from process spawn, so both pay interpreter start and imports.
Goals: time-to-Ready ÷ baseline ≤ 1.0 (best round of each); probe p99 < 20 ms, over the
whole start and over the part after the imports (reading weights + warm-up); in-memory load
÷ mmap load ≤ 3.0, best of each (the one copy out of the page cache that it adds measured
~2.3x on a shared 2-core VM), and peak RSS growth in-memory ÷ mmap ≤ 1.2 (one copy of the
weights in the process, never two). The CUDA figures have no goal. Then a PASS/FAIL line per
goal; exit 1 if any is missed, 2 if it cannot run here (torch or transformers not installed,
bad options); see bench/goals.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
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
from bench.stats import p99_ms, spread  # noqa: E402
from tests.support.net import free_port  # noqa: E402

READY_VS_BASELINE = goals.Goal("time-to-Ready / baseline (best of each)", "<=", 1.0)
PROBE_P99_START = goals.Goal("probe p99 over the whole start", "<", 20.0, unit="ms")
PROBE_P99_WEIGHTS = goals.Goal("probe p99 while reading weights + warm-up", "<", 20.0, unit="ms")
LOAD_VS_MMAP = goals.Goal("in-memory load / mmap load (best of each)", "<=", 3.0)
RSS_VS_MMAP = goals.Goal("peak RSS growth while loading, in-memory / mmap", "<=", 1.2)

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


# One load in a fresh process: argv = model dir, "memory" | "mmap", repository root.
LOAD_CHILD = """
import json, sys, threading
from pathlib import Path
sys.path.append(sys.argv[3])
import torch
from modeldeploy.runtime import loader

def mmap_read_state_dict(files, *, total, dtype, on_progress, cancel):
    # The loader's former tensor reading: tensors stay on safetensors' map of the
    # file (a converted one is copied), one byte of every page read so it is resident.
    from safetensors import safe_open
    done, state_dict = 0, {}
    for path in files:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for name in handle.keys():
                stored = handle.get_tensor(name)
                target = dtype if stored.is_floating_point() else stored.dtype
                if stored.dtype != target:
                    state_dict[name] = stored.to(dtype=target)
                else:
                    if stored.numel():
                        stored.reshape(-1).view(torch.uint8)[::4096].sum()
                    state_dict[name] = stored
                done += stored.numel() * stored.element_size()
                on_progress(min(done, total), total)
    return state_dict, done

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}

if sys.argv[2] == "mmap":
    loader.read_state_dict = mmap_read_state_dict
cpu = torch.device("cpu")
checkpoint = loader.inspect(Path(sys.argv[1]), device=cpu, dtype_choice="auto",
                            task_choice="auto", allow_pickle=False)
loader.load_tokenizer(checkpoint.directory)  # imports and tokenizer before the measured part
loader.model_class(checkpoint.config, checkpoint.task)
Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS now
before = status()
loaded = loader.load_model(checkpoint, device=cpu, on_progress=lambda d, t: None,
                           cancel=threading.Event())
after = status()
maps = sum(1 for line in open("/proc/self/maps") if line.rstrip().endswith(".safetensors"))
print(json.dumps({"seconds": loaded.read_seconds + loaded.build_seconds,
                  "read": loaded.read_seconds, "build": loaded.build_seconds,
                  "peakGrowth": after["VmHWM"] - before["VmRSS"], "peak": after["VmHWM"],
                  "anon": after["RssAnon"] - before["RssAnon"],
                  "file": after["RssFile"] - before["RssFile"], "mappings": maps}))
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


def raw_copy_seconds(total_bytes: int) -> float:
    import torch

    host = torch.empty(total_bytes, dtype=torch.uint8).fill_(1)
    torch.cuda.synchronize()
    started = time.perf_counter()
    host.to("cuda")
    torch.cuda.synchronize()
    return time.perf_counter() - started


def run_load(model_dir: Path, mode: str) -> dict[str, Any]:
    """One CPU load in a fresh process (`LOAD_CHILD`); `mode` is "memory" or "mmap"."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD_CHILD, str(model_dir), mode, str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} load failed (exit {done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load_bench(root: Path, *, load_mb: float, rounds: int) -> dict[str, list[dict[str, Any]]]:
    """The in-memory loader against the mmap one, taking turns, on a ~`load_mb` MB model."""
    model_dir = root / "load-model"
    if not (model_dir / "config.json").exists():
        sys.path.append(str(ROOT))
        from tests.support import tinymodels

        tinymodels.build_causal_lm(model_dir, approx_bytes=load_mb * 1e6)
    size = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    print(f"load model: {model_dir} ({size / 1e6:.0f} MB float32)")
    runs: dict[str, list[dict[str, Any]]] = {"mmap": [], "memory": []}
    for round_ in range(rounds):
        for mode in ("mmap", "memory"):
            runs[mode].append(run_load(model_dir, mode))
        print(f"load round {round_ + 1}: mmap {runs['mmap'][-1]['seconds']:.3f}s, "
              f"in-memory {runs['memory'][-1]['seconds']:.3f}s")  # fmt: skip
    load_report(runs, size)
    return runs


def load_report(runs: dict[str, list[dict[str, Any]]], size: int) -> None:
    mb = 1e6
    rows = [("weights in the file (MB)", f"{size / mb:.0f}")]
    for mode, label in (("mmap", "mmap (before)"), ("memory", "in-memory (now)")):
        last = runs[mode][-1]
        rows += [
            (f"{label}: load s (read + build), rounds",
             ", ".join(f"{r['read']:.3f} + {r['build']:.3f}" for r in runs[mode])),
            (f"{label}: peak RSS growth / peak RSS (MB)",
             f"{min(r['peakGrowth'] for r in runs[mode]) / mb:.0f} / "
             f"{min(r['peak'] for r in runs[mode]) / mb:.0f}"),
            (f"{label}: RssAnon / RssFile growth (MB)",
             f"{last['anon'] / mb:.0f} / {last['file'] / mb:.0f}"),
            (f"{label}: mappings of *.safetensors after load", str(last["mappings"])),
        ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def load_measured(runs: dict[str, list[dict[str, Any]]]) -> dict[goals.Goal, float]:
    def best(mode: str, key: str) -> float:
        return float(min(r[key] for r in runs[mode]))

    return {
        LOAD_VS_MMAP: best("memory", "seconds") / best("mmap", "seconds"),
        RSS_VS_MMAP: best("memory", "peakGrowth") / best("mmap", "peakGrowth"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--load-mb", type=float, default=300.0)
    parser.add_argument("--load-rounds", type=int, default=3)
    parser.add_argument("--only", choices=("start", "load"), help="run one part only")
    parser.add_argument("--keep", type=Path, help="build/reuse the models here; do not delete")
    args = parser.parse_args()
    if min(args.rounds, args.load_rounds) < 1 or min(args.size_gb, args.load_mb) <= 0:
        parser.error("rounds must be at least 1 and sizes above 0")
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise goals.SetupError(f"{' and '.join(missing)} not installed (the runtime extra)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    root = args.keep or workdir
    found: dict[goals.Goal, float] = {}
    try:
        if args.only != "load":
            found |= start_bench(root, workdir, size_gb=args.size_gb, rounds=args.rounds)
        if args.only != "start":
            runs = load_bench(root, load_mb=args.load_mb, rounds=args.load_rounds)
            found |= load_measured(runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return goals.verdict(found)


def start_bench(
    root: Path, workdir: Path, *, size_gb: float, rounds: int
) -> dict[goals.Goal, float]:
    model_dir = root / "model"
    if not (model_dir / "config.json").exists():
        model_dir = build_model(root, size_gb)
    size = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    print(f"model: {model_dir} ({size / 1e9:.3f} GB float32), cores: {os.cpu_count()}")
    baselines, serves = [], []
    for round_ in range(rounds):
        baselines.append(run_baseline(model_dir, workdir))
        serves.append(run_serve(model_dir, workdir, device="cpu"))
        print(f"round {round_ + 1}: baseline {baselines[-1]:.2f}s, "
              f"serve ready {serves[-1]['ready']:.2f}s")  # fmt: skip
    report(baselines, serves)
    cuda_report(model_dir, workdir, size)
    return measured(baselines, serves)


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
