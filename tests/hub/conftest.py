"""Fixtures for the fetcher tests: a loopback hub and a small model repo on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.hubserver import HubServer, random_bytes, safetensors_bytes

REPO = "acme/tiny-model"


@dataclass(frozen=True)
class ModelRepo:
    repo: str
    commit: str
    files: dict[str, bytes]


def model_files() -> dict[str, bytes]:
    """Two LFS weight shards, a tokenizer-ish blob in a folder and small JSON (non-LFS)."""
    return {
        "config.json": b'{"model_type": "tiny", "hidden_size": 64}\n',
        "model-00001-of-00002.safetensors": safetensors_bytes(
            {"embed.weight": ("F32", (512, 256))}, fill=1
        ),
        "model-00002-of-00002.safetensors": safetensors_bytes(
            {"head.weight": ("BF16", (256, 512)), "ids": ("I64", (64,))}, fill=2
        ),
        "tokenizer/vocab.txt": random_bytes(300_000, seed=3),
        "README.md": b"# tiny\n",
    }


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


@pytest.fixture
def model(hub: HubServer) -> ModelRepo:
    files = model_files()
    commit = hub.add_repo(REPO, files, tags=("v1",))
    return ModelRepo(REPO, commit, files)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "model"


@pytest.fixture(autouse=True)
def _no_ambient_hub_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass endpoint and token explicitly; nothing may reach the public hub."""
    for name in (
        "HF_TOKEN",
        "HF_ENDPOINT",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
