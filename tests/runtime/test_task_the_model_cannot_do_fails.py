"""`--task` naming a task the checkpoint cannot do fails with TaskMismatch before any weight is
read (rule: runtime/tasks.py); a task it can do still goes Ready.

Refused: embeddings from a causal LM without a sentence-transformers layout (its LM head would
be dropped and its hidden states pooled by guess), text-generation from an encoder (its LM
head would be random). Accepted: embeddings from an encoder, and from a causal LM whose
publisher ships `modules.json` (decoder-based embedding models do).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.runtime import pipeline
from modeldeploy.runtime.config import RuntimeConfig, TaskChoice
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.engine import Engine
from modeldeploy.runtime.state import State
from tests.runtime import servers
from tests.support import tinymodels


def run_in_process(model_dir: Path, task: TaskChoice) -> RuntimeContext:
    ctx = RuntimeContext(
        RuntimeConfig(model_dir=model_dir, device="cpu", task=task, warmup_max_tokens=1)
    )
    pipeline.run(ctx)
    return ctx


def test_embeddings_from_a_causal_lm_fail_everywhere_a_reason_shows(
    tiny_lm: Path, tmp_path: Path
) -> None:
    config = tiny_lm / "config.json"
    serve = servers.start(tiny_lm, tmp_path, "--task", "embeddings", "--failure-linger", "60")
    try:
        status = serve.wait_state("Failed", timeout=60)
        assert status["error"]["reason"] == "TaskMismatch"
        assert str(config) in status["error"]["message"]
        assert "LlamaForCausalLM" in status["error"]["message"]
        assert "WarmingUp" not in [step["state"] for step in status["history"]]
        readyz = serve.get("/readyz")
        assert readyz.status == 503 and readyz.json()["reason"] == "TaskMismatch"
        serve.sigterm()
        assert serve.wait_exit(timeout=30) == 1
    finally:
        serve.stop()
    termination = serve.termination_log.read_text()
    assert termination.startswith("TaskMismatch: ") and str(config) in termination
    assert f"modeldeploy serve: error: TaskMismatch: {config}" in serve.log()


def test_text_generation_from_an_encoder_fails(tiny_encoder: Path) -> None:
    ctx = run_in_process(tiny_encoder, "text-generation")
    error = ctx.machine.snapshot().error
    assert ctx.machine.state is State.FAILED
    assert error is not None and error.reason == "TaskMismatch"
    assert "BertModel" in error.message and "no language-model head" in error.message
    assert ctx.info.bytes_loaded == 0  # refused before reading a weight


@pytest.mark.parametrize("task", ["embeddings", "auto"])
def test_embeddings_from_an_encoder_still_work(tiny_encoder: Path, task: TaskChoice) -> None:
    ctx = run_in_process(tiny_encoder, task)
    assert ctx.machine.state is State.READY, ctx.machine.snapshot().error
    assert isinstance(ctx.engine, Engine) and ctx.engine.task == "embeddings"
    assert len(ctx.engine.embed_counted(["hello"])[0][0]) == 32


def test_causal_lm_that_ships_an_embedding_layout_serves_embeddings(
    tiny_lm: Path, tmp_path: Path
) -> None:
    directory = tinymodels.copy_model(tiny_lm, tmp_path / "decoder-embedder")
    tinymodels.write_sentence_transformers_layout(
        directory, dimension=64, normalize=True, pooling="lasttoken"
    )
    tinymodels.write_manifest_for(directory)
    ctx = run_in_process(directory, "embeddings")
    assert ctx.machine.state is State.READY, ctx.machine.snapshot().error
    assert ctx.engine is not None and ctx.engine.loaded.pooling is not None
    assert ctx.engine.loaded.pooling.mode == "lasttoken"
    assert len(ctx.engine.embed_counted(["hello", "hello world"])[0]) == 2


def test_text_generation_from_a_causal_lm_still_works(tiny_lm: Path) -> None:
    ctx = run_in_process(tiny_lm, "text-generation")
    assert ctx.machine.state is State.READY, ctx.machine.snapshot().error
