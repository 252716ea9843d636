"""Tensor sizes from safetensors headers, locally and over HTTP Range without downloading."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.hub import safetensors_header
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer, safetensors_bytes


def test_read_header_and_sizes(tmp_path: Path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(
        safetensors_bytes({"a": ("F32", (10, 20)), "b": ("I64", (4,))}, metadata={"format": "pt"})
    )

    header = safetensors_header.read_header(path)

    assert header["a"]["shape"] == [10, 20]
    assert safetensors_header.tensor_bytes(header) == 800 + 32
    assert safetensors_header.tensor_bytes(header, dtype="bfloat16") == 400 + 32
    assert safetensors_header.tensor_bytes(header, dtype="float32") == 800 + 32


def test_broken_files_are_refused(tmp_path: Path):
    path = tmp_path / "m.safetensors"
    good = safetensors_bytes({"a": ("F32", (100,))})
    for broken in (b"", b"\xff" * 64, good[:8] + b"[1, 2]" + good[14:], good[:-10]):
        path.write_bytes(broken)
        with pytest.raises(safetensors_header.HeaderError):
            safetensors_header.read_header(path)


def test_remote_weight_bytes_reads_only_headers(hub: HubServer, model: ModelRepo):
    total = safetensors_header.remote_weight_bytes(
        model.repo, model.commit, endpoint=hub.endpoint, token=None
    )
    as_fp16 = safetensors_header.remote_weight_bytes(
        model.repo, model.commit, endpoint=hub.endpoint, token=None, dtype="float16"
    )

    assert total == 512 * 256 * 4 + 256 * 512 * 2 + 64 * 8
    assert as_fp16 == 512 * 256 * 2 + 256 * 512 * 2 + 64 * 8
    weights = sum(len(d) for p, d in model.files.items() if p.endswith(".safetensors"))
    assert 0 < hub.bytes_served() < weights / 50
