"""Tensor sizes from safetensors headers, locally and over HTTP Range without downloading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.cli.main import main
from modeldeploy.hub import fetch, safetensors_header, transfer
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


def _with_entry(entry: dict[str, object]) -> bytes:
    raw = json.dumps({"a": entry}).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + b"\x00" * 64


@pytest.mark.parametrize(
    "entry",
    [
        {"dtype": "F32", "shape": [4], "data_offsets": 5},
        {"dtype": "F32", "shape": [4], "data_offsets": [0]},
        {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]},
        {"dtype": "F32", "shape": [4], "data_offsets": [0, "16"]},
        {"dtype": "F32", "shape": [4], "data_offsets": [0, True]},
        {"dtype": "F32", "shape": "4", "data_offsets": [0, 16]},
        {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]},
        {"dtype": 7, "shape": [4], "data_offsets": [0, 16]},
    ],
)
def test_malformed_tensor_entries_are_header_errors(tmp_path: Path, entry: dict[str, object]):
    path = tmp_path / "m.safetensors"
    path.write_bytes(_with_entry(entry))

    with pytest.raises(safetensors_header.HeaderError) as caught:
        safetensors_header.read_header(path)

    assert "'a'" in str(caught.value)


def test_verify_of_a_malformed_header_is_one_line_exit_1(
    hub: HubServer, dest: Path, capsys: pytest.CaptureFixture[str]
):
    bad = _with_entry({"dtype": "F32", "shape": [4], "data_offsets": 5})
    hub.add_repo("acme/odd", {"model.safetensors": bad, "config.json": b"{}"})
    fetch.fetch("acme/odd", dest, endpoint=hub.endpoint)  # hashes match: the hub serves it so
    capsys.readouterr()

    code = main(["verify", str(dest), "--progress", "none"])

    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "model.safetensors: header unreadable" in err and "unexpected" not in err


def test_remote_weight_bytes_defaults_to_hf_endpoint(
    hub: HubServer, model: ModelRepo, monkeypatch: pytest.MonkeyPatch
):
    # Were HF_ENDPOINT ignored, the request would go to this closed loopback port.
    monkeypatch.setattr(transfer, "DEFAULT_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)

    total = safetensors_header.remote_weight_bytes(
        model.repo, model.commit, endpoint=None, token=None
    )

    assert total == 512 * 256 * 4 + 256 * 512 * 2 + 64 * 8
