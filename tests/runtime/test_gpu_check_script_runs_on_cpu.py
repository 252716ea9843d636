"""`hack/gpu_check.py`, the check run on a lent GPU machine, kept working between loans: on CPU
with a small model it builds, serves, measures and drains, and reports every number it promises
(the memory-release check is CUDA-only and says it was skipped)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.runtime import servers

SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "gpu_check.py"


def test_on_cpu_it_reports_load_warmup_throughput_and_a_clean_drain(tmp_path: Path) -> None:
    argv = [sys.executable, str(SCRIPT), "--device", "cpu", "--size-gb", "0.005", "--rounds",
            "1", "--json", str(tmp_path / "summary.json")]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env=servers.child_environment()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"] is True and summary["failures"] == []
    assert summary["device"] == "cpu" and summary["exitCode"] == 0
    for key in ("loadSeconds", "warmupSeconds", "rawCopySeconds", "loadOverRawCopy"):
        assert summary[key] > 0, key
    assert summary["tokensPerSecond1"] > 0 and summary["tokensPerSecond16"] > 0
    assert "memoryReleased" not in summary
    assert "GPU memory release: skipped (device cpu" in done.stdout


def test_cuda_without_a_device_fails_with_a_clear_line() -> None:
    import torch

    if torch.cuda.is_available():
        return  # the machine has one: nothing to refuse
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cuda"], capture_output=True, text=True
    )
    assert done.returncode == 1 and "sees no CUDA device" in done.stdout
