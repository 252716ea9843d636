"""`/v1/embeddings` on a tiny BERT with a sentence-transformers layout (mean pooling, Normalize).

The vectors are checked against a reference computed here with transformers directly, so
pooling and normalisation must match what the repo's config says.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.runtime import servers

SENTENCES = ["the quick brown fox", "hello runtime", "a much longer sentence with many more words"]


def reference(model_dir: Path, texts: list[str]) -> list[list[float]]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1)
    vectors: list[list[float]] = torch.nn.functional.normalize(mean, dim=1).tolist()
    return vectors


def test_embeddings_are_pooled_and_normalised_as_configured(
    encoder_server: servers.Serve, tiny_encoder: Path
) -> None:
    reply = encoder_server.post("/v1/embeddings", {"input": SENTENCES})
    assert reply.status == 200, reply.body
    doc = reply.json()
    vectors = [item["embedding"] for item in doc["data"]]
    assert [item["index"] for item in doc["data"]] == [0, 1, 2]
    for vector in vectors:
        assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-5)
    for got, want in zip(vectors, reference(tiny_encoder, SENTENCES), strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    assert doc["usage"]["prompt_tokens"] > len(SENTENCES)


def test_status_names_the_pooling(encoder_server: servers.Serve) -> None:
    status = encoder_server.get("/status").json()
    assert status["model"]["task"] == "embeddings"
    assert status["model"]["pooling"]["mode"] == "mean_tokens"
    assert status["model"]["pooling"]["normalize"] is True
    assert status["warmup"]["ok"] is True


def test_single_string_and_bad_inputs(encoder_server: servers.Serve) -> None:
    one = encoder_server.post("/v1/embeddings", {"input": "hello"})
    assert one.status == 200 and len(one.json()["data"]) == 1
    bodies: list[dict[str, object]] = [
        {},
        {"input": []},
        {"input": [""]},
        {"input": "x", "encoding_format": "base64"},
    ]
    for body in bodies:
        reply = encoder_server.post("/v1/embeddings", body)
        assert reply.status == 400, body
        assert reply.json()["error"]["type"] == "invalid_request_error"
    assert encoder_server.post("/v1/completions", {"prompt": "x"}).status == 400
