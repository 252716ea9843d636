"""Safetensors only by default: pickle-only repos are refused, pickle beside safetensors skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.hub import fetch, listing
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.support.hubserver import HubServer


def test_pickle_only_repo_is_refused(hub: HubServer, dest: Path):
    hub.add_repo("acme/old", {"config.json": b"{}", "pytorch_model.bin": b"\x80" * 3000})

    with pytest.raises(FetchError) as caught:
        fetch.fetch("acme/old", dest, endpoint=hub.endpoint)

    assert caught.value.reason is FetchReason.PickleRefused
    assert "pytorch_model.bin" in caught.value.message and "allow-pickle" in caught.value.message
    assert hub.downloads() == []


def test_allow_pickle_accepts_it(hub: HubServer, dest: Path):
    hub.add_repo("acme/old", {"config.json": b"{}", "pytorch_model.bin": b"\x80" * 3000})

    result = fetch.fetch("acme/old", dest, endpoint=hub.endpoint, allow_pickle=True)

    assert {f.path for f in result.files} == {"config.json", "pytorch_model.bin"}


def test_pickle_beside_safetensors_is_skipped(hub: HubServer, dest: Path):
    hub.add_repo(
        "acme/both",
        {
            "model.safetensors": b"\x00" * 3000,
            "pytorch_model.bin": b"\x80" * 3000,
            "training_args.bin": b"\x80" * 10,
            "config.json": b"{}",
        },
    )

    result = fetch.fetch("acme/both", dest, endpoint=hub.endpoint)

    assert {f.path for f in result.files} == {"model.safetensors", "config.json"}
    assert not (dest / "pytorch_model.bin").exists()


@pytest.mark.parametrize(
    ("name", "pickle"),
    [
        ("pytorch_model.bin", True),
        ("sub/W.PT", True),
        ("model.pth", True),
        ("x.ckpt", True),
        ("a.pkl", True),
        ("model.safetensors", False),
        ("tokenizer.json", False),
    ],
)
def test_is_pickle_is_the_one_rule(name: str, pickle: bool):
    assert listing.is_pickle(name) is pickle
