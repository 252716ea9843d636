"""`serve --engine vllm --task embeddings`: a pooling model served by a real vLLM engine.

The model is a decoder-based embedder (the tiny Llama with heads of 32 dimensions and the
sentence-transformers layout: last-token pooling, Normalize), as Qwen3-Embedding and
e5-mistral are published. vLLM runs it with `--runner pooling`; the warm-up is a real
embedding; and what it serves is the model's vector: the built-in engine, given the same
verified directory, answers the same numbers (float32 on both, so to rounding).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime import servers, vllm_engine
from tests.support import tinymodels

pytestmark = pytest.mark.slow

TEXTS = ["hello world", "state that never lies", "a"]
ARGS = ("--served-model-name", "emb", "--task", "embeddings", "--dtype", "float32")


def hidden_size(directory: Path) -> int:
    return int(json.loads((directory / "config.json").read_text())["hidden_size"])


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models") / "tiny-vllm-embedder"
    tinymodels.build_causal_lm(directory, num_attention_heads=2)
    dimension = hidden_size(directory)
    tinymodels.write_sentence_transformers_layout(
        directory, dimension=dimension, normalize=True, pooling="lasttoken"
    )
    tinymodels.write_manifest_for(directory, repo="tests/tiny-vllm-embedder")
    return directory


@pytest.fixture(scope="module")
def engine(embedder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Serve]:
    serve = vllm_engine.start(
        embedder, tmp_path_factory.mktemp("vllm-embeddings"), *ARGS, vllm_engine.EAGER
    )
    try:
        serve.wait_state("Ready", timeout=vllm_engine.START_SECONDS)
        yield serve
    finally:
        serve.stop()


def vectors(serve: servers.Serve) -> tuple[list[list[float]], dict[str, Any]]:
    reply = serve.post("/v1/embeddings", {"model": "emb", "input": TEXTS})
    assert reply.status == 200, reply.body
    body = reply.json()
    assert [item["index"] for item in body["data"]] == list(range(len(TEXTS)))
    return [item["embedding"] for item in body["data"]], body["usage"]


def test_the_engine_runs_the_model_as_a_pooling_model_warmed_by_an_embedding(
    engine: servers.Serve,
) -> None:
    status = engine.get("/status").json()
    assert status["state"] == "Ready" and status["model"]["task"] == "embeddings"
    assert status["engine"]["name"] == "vllm" and "--dtype=float32" in status["engine"]["args"]
    assert status["warmup"]["ok"] is True
    started = [line for line in engine.log().splitlines() if "starting the vLLM engine" in line]
    assert started and "--runner pooling" in started[0], started


def test_embeddings_through_vllm_are_the_models_own_vectors(
    engine: servers.Serve, embedder: Path, tmp_path: Path
) -> None:
    served, usage = vectors(engine)
    builtin = servers.start(embedder, tmp_path, *ARGS)
    try:
        builtin.wait_state("Ready", timeout=120)
        expected, expected_usage = vectors(builtin)
    finally:
        builtin.stop()
    assert usage["prompt_tokens"] == expected_usage["prompt_tokens"]
    for got, want in zip(served, expected, strict=True):
        assert len(got) == len(want) == hidden_size(embedder)
        assert math.isclose(math.hypot(*got), 1.0, abs_tol=1e-4)  # Normalize applied
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 1e-4
    assert served[0] != served[1]


def test_a_completion_asked_of_a_pooling_model_is_refused_by_the_engine(
    engine: servers.Serve,
) -> None:
    reply = engine.post("/v1/completions", {"model": "emb", "prompt": "hello", "max_tokens": 2})
    assert 400 <= reply.status < 500, (reply.status, reply.body)
    assert engine.get("/readyz").status == 200  # a refused request leaves the runtime Ready
