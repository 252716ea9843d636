"""What the vLLM engine is started with: the allow-listed arguments, normalised, plus what the
runtime's own flags mean for it (`--max-batch` is its `--max-num-seqs`, `--dtype` its dtype)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.engines.vllm.steps import checked_args
from modeldeploy.runtime.errors import LoadError

MODEL = Path("/nonexistent/model")


def config(*args: str, **fields: object) -> RuntimeConfig:
    return RuntimeConfig(model_dir=MODEL, engine="vllm", engine_args=args, **fields)  # type: ignore[arg-type]


def test_the_bound_is_always_explicit_so_the_runtime_knows_it() -> None:
    args, running = checked_args(config())
    assert args.argv == ("--max-num-seqs=256",) and running == 256


def test_max_batch_becomes_max_num_seqs() -> None:
    args, running = checked_args(config(max_batch=8, max_batch_given=True))
    assert "--max-num-seqs=8" in args.argv and running == 8


def test_max_num_seqs_in_engine_args_is_the_bound() -> None:
    args, running = checked_args(config("--max_num_seqs", "12"))
    assert args.argv == ("--max-num-seqs=12",) and running == 12


def test_disagreeing_bounds_are_refused() -> None:
    with pytest.raises(LoadError) as caught:
        checked_args(config("--max-num-seqs=12", max_batch=8, max_batch_given=True))
    assert caught.value.reason == "InvalidEngineArgs"
    assert "--max-batch 8 and --max-num-seqs=12 disagree" in caught.value.message


def test_the_runtimes_dtype_reaches_the_engine_unless_its_args_say_otherwise() -> None:
    assert "--dtype=float32" in checked_args(config(dtype="float32"))[0].argv
    args = checked_args(config("--dtype=half", dtype="float32"))[0].argv
    assert "--dtype=half" in args and "--dtype=float32" not in args


def test_an_argument_off_the_allow_list_is_invalid_engine_args() -> None:
    with pytest.raises(LoadError) as caught:
        checked_args(config("--trust-remote-code"))
    assert caught.value.reason == "InvalidEngineArgs"
    assert "code shipped with a model is never run" in caught.value.message


def test_engine_args_without_the_vllm_engine_are_refused_by_the_command_line(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modeldeploy", "serve", "--model-dir", str(tmp_path),
         "--engine-arg=--enforce-eager"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--engine-arg needs --engine vllm" in result.stderr
