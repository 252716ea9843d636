"""Weights that parse but compute garbage (NaN) pass verification and loading, and fail
warm-up: the runtime never reaches Ready and exits with WarmupFailed."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.runtime import servers
from tests.support import tinymodels


def nan_copy(tiny_lm: Path, tmp: Path) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    directory = tinymodels.copy_model(tiny_lm, tmp / "nan-model")
    weights = directory / "model.safetensors"
    tensors = load_file(weights)
    tensors["model.norm.weight"] = torch.full_like(tensors["model.norm.weight"], float("nan"))
    save_file(tensors, weights, metadata={"format": "pt"})
    tinymodels.write_manifest_for(directory)
    return directory


def test_warmup_failure_is_permanent(tiny_lm: Path, tmp_path: Path) -> None:
    serve = servers.start(nan_copy(tiny_lm, tmp_path), tmp_path, "--failure-linger", "60")
    try:
        status = serve.wait_state("Failed", timeout=120)
        states = [h["state"] for h in status["history"]]
        assert states == ["Starting", "Verifying", "Loading", "WarmingUp", "Failed"]
        assert status["error"]["reason"] == "WarmupFailed"
        assert "non-finite" in status["error"]["message"]
        assert serve.get("/readyz").status == 503
        serve.sigterm()
        assert serve.wait_exit(timeout=30) == 1
        assert serve.termination_log.read_text().startswith("WarmupFailed: ")
    finally:
        serve.stop()


def test_unverified_directory_without_warmup(tiny_lm: Path, tmp_path: Path) -> None:
    """Two options in one start: --allow-unverified (no manifest) and --no-warmup."""
    directory = tinymodels.copy_model(tiny_lm, tmp_path / "unverified")
    shutil.rmtree(directory / ".modeldeploy")
    serve = servers.start(directory, tmp_path, "--allow-unverified", "--no-warmup")
    try:
        status = serve.wait_state("Ready")
        assert [h["state"] for h in status["history"]] == [
            "Starting",
            "Verifying",
            "Loading",
            "Ready",
        ]
        assert status["warmup"] is None
        assert status["verified"] is False and status["commit"] is None
    finally:
        serve.stop()
