"""Benchmark: is `modeldeploy cache verify ROOT` as fast as the issue asks?

One run writes a cache root of about 1 GiB (by default 4 models of 2 x 128 MiB safetensors
files of random data, each with its manifest, named as the operator names them) under a
temp dir outside the repo, removed at the end, then prints, with the raw seconds:

- `modeldeploy cache verify ROOT` (the command, as a subprocess: start-up, inventory, a full
  re-hash of every model, the records it writes) / `sha256sum` over the same files (goal
  <= 0.35, the bar `modeldeploy verify` has in bench_fetch.py); one core of hashlib (which
  hashes with the CPU's SHA instructions where coreutils' `sha256sum` may not) is printed
  beside them for reference.

Then a PASS/FAIL line; exit 1 if the goal is missed, 2 if it cannot run here (no `sha256sum`,
bad options); see bench/goals.py. Each timing is the best of `--repeat` rounds, the
contenders taking turns (the files are in the page cache for all of them). `sha256sum` hashes
on one core and the command on all of them, so the ratio falls with the core count: read it
with the CPU count printed beside it.

    python bench/bench_cache_verify.py [--models 4] [--files 2] [--file-mb 128] [--repeat 5]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import goals  # noqa: E402
from bench.bench_fetch import (  # noqa: E402
    hashlib_one_core,
    interleaved,
    run_command,
    write_safetensors,
)
from modeldeploy.hub import manifest, sharing  # noqa: E402

CACHE_VERIFY_VS_SHA256SUM = goals.Goal("cache verify / sha256sum", "<=", 0.35)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_model(root: Path, index: int, *, files: int, size: int) -> list[Path]:
    """One model directory: `files` safetensors files and a manifest of their sha256s."""
    repo = f"bench/model-{index}"
    commit = hashlib.sha1(repo.encode()).hexdigest()
    directory = root / sharing.model_dir_name(repo, commit, sharing.Selection())
    directory.mkdir(parents=True)
    paths = []
    for number in range(files):
        path = directory / f"model-{number + 1:05d}-of-{files:05d}.safetensors"
        write_safetensors(path, size)
        paths.append(path)
    entries = tuple(
        manifest.ManifestFile(path=p.name, size=p.stat().st_size, sha256=sha256_of(p))
        for p in paths
    )
    manifest.write_manifest(
        directory,
        manifest.Manifest(
            repo=repo,
            revision="main",
            commit=commit,
            endpoint="http://127.0.0.1:9",
            files=entries,
            verified_at="2024-01-01T00:00:00Z",
            extra={"selection": sharing.Selection().to_json()},
        ),
    )
    return paths


def cache_verify(root: Path) -> list[str]:
    return [sys.executable, "-m", "modeldeploy", "cache", "verify", str(root), "--json"]


def check_sound(root: Path, models: int) -> None:
    """The command must verify every model before its speed means anything."""
    done = subprocess.run(
        cache_verify(root),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"cache verify failed: {done.stderr.strip()}")
    report = json.loads(done.stdout.splitlines()[-1])
    if len(report["verify"]) != models or not all(v["ok"] for v in report["verify"]):
        raise SystemExit(f"cache verify did not verify every model: {report['verify']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--files", type=int, default=2, help="files per model")
    parser.add_argument("--file-mb", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if min(args.models, args.files, args.file_mb, args.repeat) < 1:
        parser.error("--models, --files, --file-mb and --repeat must each be at least 1")
    if shutil.which("sha256sum") is None:
        raise goals.SetupError("sha256sum not found: it is the baseline for `cache verify`")
    work = Path(tempfile.mkdtemp(prefix="bench-cache-verify-", dir="/tmp"))
    try:
        return run(work / "cache", args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> int:
    files = [
        path
        for index in range(args.models)
        for path in write_model(root, index, files=args.files, size=args.file_mb << 20)
    ]
    check_sound(root, args.models)
    times = interleaved(
        args.repeat,
        {
            "sha256sum": lambda: run_command(["sha256sum", *map(str, files)]),
            "hashlib sha256, one core (for reference)": lambda: hashlib_one_core(files),
            "cache verify": lambda: run_command(cache_verify(root)),
        },
    )
    gib = sum(p.stat().st_size for p in files) / (1 << 30)
    print(
        f"cache root: {args.models} models, {len(files)} files, {gib:.2f} GiB; "
        f"{os.cpu_count()} CPUs; best of {args.repeat}"
    )
    print(f"{'measure':<44}{'seconds':>9}{'GiB/s':>8}")
    for label, seconds in times.items():
        print(f"{label:<44}{seconds:>9.3f}{gib / seconds:>8.2f}")
    return goals.verdict({CACHE_VERIFY_VS_SHA256SUM: times["cache verify"] / times["sha256sum"]})


if __name__ == "__main__":
    raise SystemExit(goals.exit_status(main))
