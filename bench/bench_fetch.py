"""Benchmark: does verifying cost anything visible? Is `modeldeploy verify` fast?

One run serves a ~1 GB repo (4 x 256 MB safetensors files of random data, generated once
under a temp dir outside the repo and removed at the end) from the loopback test hub, then
prints, with the raw seconds:

- fetch (download + sha256 of every byte, manifest) / plain `huggingface_hub.snapshot_download`
  of the same files from the same server (goal <= 1.0),
- `modeldeploy verify DIR` (the command, as a subprocess) / `sha256sum` over the same files
  (goal <= 0.35) and / one single-core hashlib pass (goal <= 0.7).

Then a PASS/FAIL line per goal; exit 1 if any is missed, 2 if it cannot run here (no
`sha256sum`, bad options); see bench/goals.py.

Each timing is the best of `--repeat` rounds, the contenders taking turns in every round
(the files are in the page cache for all hashing runs). The machine may be shared: read the
ratios, not the absolute speeds.

    python bench/bench_fetch.py [--file-mb 256] [--files 4] [--repeat 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import goals  # noqa: E402
from modeldeploy.hub import fetch  # noqa: E402
from tests.support.hubserver import HubServer  # noqa: E402

REPO = "bench/one-gigabyte"
FETCH_VS_SNAPSHOT = goals.Goal("fetch+verify / snapshot_download", "<=", 1.0)
VERIFY_VS_SHA256SUM = goals.Goal("verify / sha256sum", "<=", 0.35)
VERIFY_VS_HASHLIB = goals.Goal("verify / hashlib one core", "<=", 0.7)


def write_safetensors(path: Path, size: int) -> None:
    """A valid safetensors file of about `size` bytes: one U8 tensor of random bytes."""
    header = json.dumps({"blob": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}})
    raw = header.encode() + b" " * (-len(header) % 8)
    with path.open("wb") as handle:
        handle.write(len(raw).to_bytes(8, "little") + raw)
        left = size
        while left:
            chunk = min(left, 16 << 20)
            handle.write(os.urandom(chunk))
            left -= chunk


def interleaved(
    repeat: int, runs: dict[str, Callable[[], None]], before: Callable[[], None] | None = None
) -> dict[str, float]:
    """Best time of each run over `repeat` rounds, taking turns so load swings hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            if before is not None:
                before()
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: min(values) for name, values in times.items()}


def hashlib_one_core(files: list[Path]) -> None:
    buffer = bytearray(8 << 20)
    view = memoryview(buffer)
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb", buffering=0) as handle:
            while count := handle.readinto(buffer):
                digest.update(view[:count])


def run_command(argv: list[str]) -> None:
    subprocess.run(
        argv,
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file-mb", type=int, default=256)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if min(args.file_mb, args.files, args.repeat) < 1:
        parser.error("--file-mb, --files and --repeat must each be at least 1")
    if shutil.which("sha256sum") is None:
        raise goals.SetupError("sha256sum not found: it is the baseline for `verify`")

    work = Path(tempfile.mkdtemp(prefix="bench-fetch-", dir="/tmp"))
    try:
        return run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> int:
    from huggingface_hub import snapshot_download

    source = work / "source"
    source.mkdir()
    names = [f"model-{i + 1:05d}-of-{args.files:05d}.safetensors" for i in range(args.files)]
    for name in names:
        write_safetensors(source / name, args.file_mb << 20)
    files = {name: source / name for name in names}
    files["config.json"] = b'{"model_type": "bench"}\n'  # type: ignore[assignment]
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    ours, theirs = work / "ours", work / "theirs"

    def clean() -> None:
        shutil.rmtree(ours, ignore_errors=True)
        shutil.rmtree(theirs, ignore_errors=True)

    with HubServer() as hub:
        hub.add_repo(REPO, files)  # type: ignore[arg-type]
        fetches = interleaved(
            args.repeat,
            {
                "snapshot": lambda: snapshot_download(
                    REPO, local_dir=theirs, endpoint=hub.endpoint, token=False
                ),
                "fetch": lambda: fetch.fetch(REPO, ours, endpoint=hub.endpoint),
            },
            before=clean,
        )
        served = hub.bytes_served()
    shutil.rmtree(theirs, ignore_errors=True)
    fetched = [ours / name for name in names] + [ours / "config.json"]
    total = sum(p.stat().st_size for p in fetched)
    hashes = interleaved(
        args.repeat,
        {
            "hashlib": lambda: hashlib_one_core(fetched),
            "sha256sum": lambda: run_command(["sha256sum", *map(str, fetched)]),
            "verify": lambda: run_command(
                [sys.executable, "-m", "modeldeploy", "verify", str(ours), "--progress", "none"]
            ),
        },
    )
    t_snapshot, t_fetch = fetches["snapshot"], fetches["fetch"]
    t_hashlib, t_sha256sum, t_verify = hashes["hashlib"], hashes["sha256sum"], hashes["verify"]

    gb = total / 1e9
    print(
        f"repo: {len(fetched)} files, {gb:.2f} GB; {os.cpu_count()} CPUs; best of "
        f"{args.repeat}; bytes served in all: {served / 1e9:.2f} GB"
    )
    print(f"{'measure':<44}{'seconds':>9}{'GB/s':>8}")
    for label, seconds in (
        ("snapshot_download (huggingface_hub)", t_snapshot),
        ("modeldeploy fetch (download+verify)", t_fetch),
        ("sha256sum", t_sha256sum),
        ("hashlib sha256, one core", t_hashlib),
        ("modeldeploy verify (command)", t_verify),
    ):
        print(f"{label:<44}{seconds:>9.3f}{gb / seconds:>8.2f}")
    return goals.verdict(
        {
            FETCH_VS_SNAPSHOT: t_fetch / t_snapshot,
            VERIFY_VS_SHA256SUM: t_verify / t_sha256sum,
            VERIFY_VS_HASHLIB: t_verify / t_hashlib,
        }
    )


if __name__ == "__main__":
    raise SystemExit(goals.exit_status(main))
