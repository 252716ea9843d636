# ruff: noqa: E501 (the lines are the engine's own, verbatim)
"""The vLLM engine's output, read into load steps, facts and failure reasons.

The lines are vLLM 0.32's own (copied from real runs of the CPU build and from its source's
messages), so a format change shows up here before it blinds the runtime."""

from __future__ import annotations

import pytest

from modeldeploy.runtime.engines.vllm import events

START = [
    "(APIServer pid=3231) INFO 12-06 21:24:39 [api_utils.py:286] non-default args: {'uds': '/tmp/s'}",
    "(APIServer pid=3231) INFO 12-06 21:24:52 [model.py:733] Resolved architecture: LlamaForCausalLM",
    "(EngineCore pid=3544) INFO 12-06 21:25:04 [core.py:133] Initializing a V1 LLM engine (v0.32.0) "
    "with config: model='/m', dtype=torch.bfloat16, max_seq_len=256, device_config=cpu, seed=0",
    "(Worker pid=3687) INFO 12-06 21:25:16 [cpu_model_runner.py:68] Starting to load model /m...",
    "(Worker pid=3687) INFO 12-06 21:25:16 [default_loader.py:501] Loading weights took 0.01 seconds",
    "(Worker pid=3687) INFO 12-06 21:25:17 [cpu_model_runner.py:87] Warming up model for the compilation...",
    "(EngineCore pid=3544) INFO 12-06 21:25:48 [kv_cache_utils.py:2327] CPU KV cache size: 4,194,304 "
    "tokens, Maximum concurrency for 256 tokens per request: 16384.00x",
    "(EngineCore pid=3544) INFO 12-06 21:25:48 [core.py:402] init engine (profile, create kv cache, "
    "warmup model) took 31.46 s",
    "(APIServer pid=3231) INFO 12-06 21:25:49 [entry.py:140] Starting vLLM server on unix:/tmp/s",
    "INFO:     Application startup complete.",
]  # fmt: skip


def test_the_start_reads_as_steps_that_only_go_up() -> None:
    found = [events.read(line) for line in START]
    fractions = [e.step.fraction for e in found if e is not None and e.step is not None]
    assert len(fractions) == len(START)
    assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions)
    assert fractions[-1] < 1.0  # 1.0 is the runtime's own: /health answered


def test_the_start_tells_the_platform_architecture_and_dtype() -> None:
    found = [e for e in map(events.read, START) if e is not None]
    assert {e.architecture for e in found} - {None} == {"LlamaForCausalLM"}
    assert {e.platform for e in found} - {None} == {"cpu"}
    assert {e.dtype for e in found} - {None} == {"bfloat16"}


def test_other_lines_say_nothing() -> None:
    assert events.read("(APIServer pid=1) INFO 12-06 [launcher.py:195] Route: /v1/models") is None
    assert events.read("Loading safetensors checkpoint shards:   0% Completed | 0/1") is None


@pytest.mark.parametrize(
    ("code", "lines", "reason", "says"),
    [
        (
            1,
            ["(EngineCore pid=9) ERROR 12-06 21:26:12 [core.py:1] torch.OutOfMemoryError: CUDA out "
             "of memory. Tried to allocate 2.00 GiB"],
            "EngineOutOfMemory",
            "CUDA out of memory",
        ),
        (
            1,
            ["ValueError: To serve at least one request with the model's max seq len (32768), "
             "(4.0 GiB KV cache is needed, which is larger than the available KV cache memory "
             "(1.2 GiB)."],
            "EngineOutOfMemory",
            "larger than the available KV cache memory",
        ),
        (
            1,
            ["ValueError: Available memory on node 0 (3.1/23.5 GiB) on startup is less than "
             "desired CPU memory utilization (0.9, 21.2 GiB)."],
            "EngineOutOfMemory",
            "desired CPU memory utilization",
        ),
        (
            1,
            ["ValueError: Model architectures ['FooForCausalLM'] are not supported for now. "
             "Supported architectures: dict_keys([...])"],
            "UnsupportedArchitecture",
            "FooForCausalLM",
        ),
        (
            2,
            ["usage: entry.py [-h] [--kv-cache-dtype {auto,fp8}]",
             "entry.py: error: argument --kv-cache-dtype: invalid choice: 'bogus'"],
            "InvalidEngineArgs",
            "invalid choice: 'bogus'",
        ),
        (
            1,
            ["INFO: starting", "RuntimeError: Engine core initialization failed."],
            "EngineExited",
            "Engine core initialization failed",
        ),
        (-9, ["INFO: serving"], "EngineExited", "killed by SIGKILL (exit code -9)"),
    ],
)  # fmt: skip
def test_an_exit_is_judged_by_its_last_lines(
    code: int, lines: list[str], reason: str, says: str
) -> None:
    verdict = events.judge_exit(code, lines)
    assert verdict.reason == reason
    assert says in verdict.message


def test_the_message_keeps_the_telling_lines_once_and_short() -> None:
    noise = [f"(Worker pid=7) INFO 12-06 21:26:1{i} [x.py:1] step {i}" for i in range(30)]
    error = "(Worker pid=7) ERROR 12-06 21:26:12 [multiproc_executor.py:1063] RuntimeError: boom"
    verdict = events.judge_exit(1, [*noise, error, error.replace("Worker", "EngineCore")])
    assert verdict.message.count("RuntimeError: boom") == 2  # one per process, not per copy
    assert "(Worker) RuntimeError: boom" in verdict.message
    assert "step 3" not in verdict.message
    assert verdict.message.startswith("the vLLM engine exited with code 1")


def test_the_root_cause_survives_a_long_traceback() -> None:
    """Seen on the real node: the engine core's own error, then pages of frames, then the
    API server's summary; only the first says what to fix."""
    cause = (
        "(EngineCore pid=40) ERROR 12-06 21:58:01 [core.py:1] RuntimeError: Insufficient space "
        "in /dev/shm for shared-memory allocation: 160 MiB required, 64 MiB free"
    )
    frames = [f'(EngineCore pid=40) ERROR 12-06 21:58:01 [core.py:1]   File "x.py", line {i}'
              for i in range(60)]  # fmt: skip
    summary = "RuntimeError: Engine core initialization failed. See root cause above."
    lines = [cause, *frames, summary]
    verdict = events.judge_exit(1, lines[-40:], [line for line in lines if events.is_cause(line)])
    assert verdict.reason == "EngineExited"
    assert "Insufficient space in /dev/shm" in verdict.message
    assert verdict.message.index("/dev/shm") < verdict.message.index("initialization failed")
    assert 'File "x.py"' not in verdict.message


def test_the_line_naming_the_architecture_is_shown_not_the_exception_around_it() -> None:
    """vLLM 0.32 reports an unknown architecture inside a pydantic ValidationError: the
    exception line says nothing, the `Value error, ...` line under it names the model."""
    lines = [
        "(APIServer pid=5) ERROR 12-06 22:58:01 [x.py:1] pydantic_core._pydantic_core."
        "ValidationError: 1 validation error for ModelConfig",
        "  Value error, Model architectures ['NoSuchModelForCausalLM'] are not supported for "
        "now. Supported architectures: dict_keys(['LlamaForCausalLM'])",
    ]
    verdict = events.judge_exit(1, lines, [lines[0]])
    assert verdict.reason == "UnsupportedArchitecture"
    assert "NoSuchModelForCausalLM" in verdict.message
