"""Fixtures for the runtime tests: tiny real models (built once per session) and servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime import inprocess, servers
from tests.support import tinymodels


@pytest.fixture(autouse=True)
def _stop_in_process_schedulers() -> Iterator[None]:
    yield
    inprocess.stop_schedulers()


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~0.5 MB LlamaForCausalLM with a manifest, as if fetched. Do not modify."""
    directory = tinymodels.build_causal_lm(tmp_path_factory.mktemp("models") / "tiny-lm")
    tinymodels.write_manifest_for(directory, repo="tests/tiny-lm")
    return directory


@pytest.fixture(scope="session")
def tiny_vllm_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama with heads of 32 dimensions (vLLM's CPU attention has no kernel for the
    default 16), with a manifest. Do not modify."""
    directory = tmp_path_factory.mktemp("models") / "tiny-vllm"
    tinymodels.build_causal_lm(directory, num_attention_heads=2)
    tinymodels.write_manifest_for(directory, repo="tests/tiny-vllm")
    return directory


@pytest.fixture(scope="session")
def loading_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~40 MB model in 3 shards: Loading lasts long enough to be watched."""
    directory = tinymodels.build_causal_lm(
        tmp_path_factory.mktemp("models") / "loading-lm", approx_bytes=40e6, max_shard_size="15MB"
    )
    tinymodels.write_manifest_for(directory, repo="tests/loading-lm")
    return directory


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BertModel with the sentence-transformers layout (mean pooling, Normalize)."""
    directory = tinymodels.build_encoder(tmp_path_factory.mktemp("models") / "tiny-encoder")
    tinymodels.write_manifest_for(directory, repo="tests/tiny-encoder")
    return directory


@pytest.fixture(scope="session")
def lm_server(tiny_lm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Serve]:
    """One Ready text-generation runtime shared by the serving tests."""
    serve = servers.start(
        tiny_lm, tmp_path_factory.mktemp("lm-server"), "--served-model-name", "tiny"
    )
    try:
        serve.wait_state("Ready")
        yield serve
    finally:
        serve.stop()


@pytest.fixture(scope="session")
def encoder_server(
    tiny_encoder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.Serve]:
    serve = servers.start(tiny_encoder, tmp_path_factory.mktemp("encoder-server"))
    try:
        serve.wait_state("Ready")
        yield serve
    finally:
        serve.stop()
