"""Damaged or unsafe model directories: Failed with a typed reason naming the file, the reason
in the termination log, a one-line error on stderr, and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime import servers
from tests.support import tinymodels


def run_to_failure(model_dir: Path, tmp: Path, *args: str) -> tuple[int, str, str]:
    serve = servers.start(model_dir, tmp, *args)
    try:
        code = serve.wait_exit(timeout=120)
    finally:
        serve.stop()
    termination = serve.termination_log.read_text() if serve.termination_log.exists() else ""
    return code, termination, serve.log()


def damaged_copy(tiny_lm: Path, tmp: Path) -> tuple[Path, Path]:
    directory = tinymodels.copy_model(tiny_lm, tmp / "model")
    return directory, directory / "model.safetensors"


def test_truncated_weights_fail_with_size_mismatch(tiny_lm: Path, tmp_path: Path) -> None:
    directory, weights = damaged_copy(tiny_lm, tmp_path)
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - 1000])
    code, termination, log = run_to_failure(directory, tmp_path)
    assert code == 1
    assert termination.startswith("SizeMismatch: ") and str(weights) in termination
    assert f"modeldeploy serve: error: SizeMismatch: {weights}" in log


def test_unreadable_header_fails_before_loading(tiny_lm: Path, tmp_path: Path) -> None:
    directory, weights = damaged_copy(tiny_lm, tmp_path)
    with weights.open("r+b") as handle:
        handle.seek(8)
        handle.write(b"\xff" * 16)
    code, termination, log = run_to_failure(directory, tmp_path)
    assert code == 1
    assert termination.startswith("HeaderUnreadable: ") and str(weights) in termination
    assert "state Loading" not in log


def test_corrupt_bytes_are_caught_by_full_verification(tiny_lm: Path, tmp_path: Path) -> None:
    directory, weights = damaged_copy(tiny_lm, tmp_path)
    with weights.open("r+b") as handle:
        handle.seek(weights.stat().st_size // 2)
        handle.write(b"\x00\x01\x02\x03")
    code, termination, _ = run_to_failure(directory, tmp_path, "--verify", "full")
    assert code == 1
    assert termination.startswith("FileCorrupt: ") and str(weights) in termination
    assert "sha256 mismatch" in termination


def test_a_directory_the_cache_found_corrupted_starts_no_new_replica(
    tiny_lm: Path, tmp_path: Path
) -> None:
    from modeldeploy.hub import corruption

    directory, weights = damaged_copy(tiny_lm, tmp_path)
    with weights.open("r+b") as handle:  # same size, so the quick check alone would pass
        handle.seek(weights.stat().st_size // 2)
        handle.write(b"\x00\x01\x02\x03")
    corruption.record_corruption(directory, ["model.safetensors: sha256 mismatch"])
    code, termination, log = run_to_failure(directory, tmp_path)
    assert code == 1
    assert (
        termination.startswith("FileCorrupt: ")
        and "model.safetensors: sha256 mismatch" in termination
    )
    assert "state Loading" not in log


def test_missing_manifest_is_refused_unless_allowed(tiny_lm: Path, tmp_path: Path) -> None:
    directory = tinymodels.copy_model(tiny_lm, tmp_path / "model")
    (directory / ".modeldeploy" / "manifest.json").unlink()
    code, termination, _ = run_to_failure(directory, tmp_path)
    assert code == 1
    assert termination.startswith("ManifestMissing: ") and "--allow-unverified" in termination


def test_pickle_only_weights_are_refused(tiny_lm: Path, tmp_path: Path) -> None:
    directory = pickle_only_copy(tiny_lm, tmp_path)
    code, termination, _ = run_to_failure(directory, tmp_path)
    assert code == 1
    assert termination.startswith("PickleRefused: ")
    assert str(directory / "pytorch_model.bin") in termination


def test_failed_runtime_reports_on_status_and_probes(tiny_lm: Path, tmp_path: Path) -> None:
    directory, weights = damaged_copy(tiny_lm, tmp_path)
    weights.write_bytes(weights.read_bytes()[:-10])
    serve = servers.start(directory, tmp_path, "--failure-linger", "60")
    try:
        status = serve.wait_state("Failed", timeout=60)
        assert status["error"]["reason"] == "SizeMismatch"
        assert str(weights) in status["error"]["message"]
        assert status["history"][-1]["state"] == "Failed"
        assert serve.get("/livez").status == 503
        readyz = serve.get("/readyz")
        assert readyz.status == 503 and readyz.json()["reason"] == "SizeMismatch"
        assert serve.get("/startupz").status == 503
        assert serve.post("/v1/completions", {"prompt": "x"}).status == 503
        serve.sigterm()
        assert serve.wait_exit(timeout=30) == 1
    finally:
        serve.stop()


def pickle_only_copy(tiny_lm: Path, tmp: Path) -> Path:
    import torch
    from safetensors.torch import load_file

    directory = tinymodels.copy_model(tiny_lm, tmp / "pickled")
    weights = directory / "model.safetensors"
    torch.save(load_file(weights), directory / "pytorch_model.bin")
    weights.unlink()
    tinymodels.write_manifest_for(directory)
    return directory


@pytest.mark.slow
def test_pickle_loads_when_explicitly_allowed(tiny_lm: Path, tmp_path: Path) -> None:
    serve = servers.start(pickle_only_copy(tiny_lm, tmp_path), tmp_path, "--allow-pickle")
    try:
        status = serve.wait_state("Ready")
        assert status["verified"] is True
        reply = serve.post("/v1/completions", {"prompt": "hi", "max_tokens": 2})
        assert reply.status == 200
    finally:
        serve.stop()
