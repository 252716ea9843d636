"""`serve --engine vllm` failures, each with a real engine process (or none, where it must
never start): Failed with a typed reason in /status and the termination log, exit 1, and no
process of the engine's group left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.runtime import servers, vllm_engine
from tests.support import tinymodels

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tiny_vllm_lm: Path) -> Path:
    return tiny_vllm_lm


def failed(serve: servers.Serve, timeout: float = vllm_engine.START_SECONDS) -> dict[str, str]:
    """The runtime's error once Failed; it must then exit 1 with the termination log."""
    deadline = time.monotonic() + timeout
    error: dict[str, str] | None = None
    while time.monotonic() < deadline and error is None:
        if serve.process.poll() is not None:
            break
        with contextlib.suppress(OSError):
            error = serve.get("/status", timeout=5).json()["error"]
        time.sleep(0.1)
    assert serve.wait_exit(timeout=60) == 1, serve.log()
    termination = serve.termination_log.read_text()
    if error is None:  # it failed and exited between two looks: the termination log says why
        reason, _, message = termination.partition(": ")
        error = {"reason": reason, "message": message}
    assert termination.startswith(f"{error['reason']}: "), termination
    return error


def test_a_killed_engine_fails_the_runtime_with_its_exit(model: Path, tmp_path: Path) -> None:
    serve = vllm_engine.start(model, tmp_path, vllm_engine.EAGER)
    try:
        status = serve.wait_state("Ready", timeout=vllm_engine.START_SECONDS)
        pid = status["engine"]["pid"]
        os.kill(pid, signal.SIGKILL)
        error = failed(serve, timeout=60)
    finally:
        serve.stop()
    assert error["reason"] == "EngineExited"
    assert "killed by SIGKILL (exit code -9)" in error["message"]
    assert vllm_engine.live_members(pid) == []


def test_an_engine_that_dies_at_its_first_request_is_never_ready(tmp_path: Path) -> None:
    """vLLM's /health is 200 once its server runs; this model's first request kills it
    (the CPU attention has no kernel for heads of 16): only the warm-up finds out."""
    directory = tinymodels.build_causal_lm(tmp_path / "head16")  # heads of 16 dimensions
    tinymodels.write_manifest_for(directory, repo="tests/head16")
    serve = vllm_engine.start(directory, tmp_path, vllm_engine.EAGER)
    try:
        serve.wait_listening()
        serve.record_stream()
        error = failed(serve)
    finally:
        serve.stop()
    states = [e["state"] for e in serve.events]
    assert "Ready" not in states
    assert error["reason"] == "UnsupportedArchitecture", error
    assert "warm-up request /v1/completions" in error["message"]
    assert "Unsupported CPU attention configuration: head_dim=16" in error["message"]


def test_an_architecture_vllm_cannot_run_is_named(model: Path, tmp_path: Path) -> None:
    directory = tinymodels.copy_model(model, tmp_path / "odd")
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config["architectures"] = ["NoSuchModelForCausalLM"]
    config_path.write_text(json.dumps(config))
    tinymodels.write_manifest_for(directory, repo="tests/odd")
    serve = vllm_engine.start(directory, tmp_path, vllm_engine.EAGER)
    try:
        error = failed(serve)
    finally:
        serve.stop()
    assert error["reason"] == "UnsupportedArchitecture", error
    assert "NoSuchModelForCausalLM" in error["message"]
    assert "exited with code" in error["message"]


def test_a_value_the_engine_refuses_is_an_invalid_engine_argument(
    model: Path, tmp_path: Path
) -> None:
    """The allow-list checks the form (a plain name); vLLM's own parser knows the choices."""
    serve = vllm_engine.start(model, tmp_path, "--engine-arg=--kv-cache-dtype=bogus")
    try:
        error = failed(serve)
    finally:
        serve.stop()
    assert error["reason"] == "InvalidEngineArgs", error
    assert "exited with code 2" in error["message"] and "bogus" in error["message"]


def test_an_argument_off_the_allow_list_never_starts_the_engine(
    model: Path, tmp_path: Path
) -> None:
    serve = vllm_engine.start(model, tmp_path, "--engine-arg=--load-format=dummy")
    try:
        error = failed(serve, timeout=60)
    finally:
        serve.stop()
    assert error["reason"] == "InvalidEngineArgs"
    assert "--load-format is not allowed" in error["message"]
    assert "[engine]" not in serve.log() and "starting the vLLM engine" not in serve.log()


def test_a_corrupted_weight_file_never_reaches_the_engine(model: Path, tmp_path: Path) -> None:
    directory = tinymodels.copy_model(model, tmp_path / "corrupt")
    weights = directory / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.seek(weights.stat().st_size // 2)
        handle.write(b"\x00\x01\x02\x03")
    serve = vllm_engine.start(directory, tmp_path, "--verify", "full")
    try:
        error = failed(serve, timeout=60)
    finally:
        serve.stop()
    assert error["reason"] == "FileCorrupt" and str(weights) in error["message"]
    assert "[engine]" not in serve.log() and "starting the vLLM engine" not in serve.log()
