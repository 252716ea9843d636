"""The loader's own safetensors reader gives exactly what safetensors gives, and refuses a
file it cannot trust with HeaderUnreadable naming the file."""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from modeldeploy.runtime import loader, tensorfile
from modeldeploy.runtime.errors import LoadError


def read_all(path: Path, *, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    state_dict, _ = loader.read_state_dict(
        [path], total=1, dtype=dtype, on_progress=lambda _d, _t: None, cancel=threading.Event()
    )
    return state_dict


def bytes_of(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(-1).view(torch.uint8)


def write_raw(path: Path, header: dict[str, Any], data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_every_dtype_reads_as_safetensors_reads_it(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    generator = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 5, generator=generator),
        "f16": torch.randn(7, generator=generator).half(),
        "bf16": torch.randn(2, 2, 2, generator=generator).bfloat16(),
        "f64": torch.randn(4, generator=generator).double(),
        "i64": torch.arange(-3, 9),
        "i32": torch.arange(6, dtype=torch.int32).reshape(2, 3),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "f8": torch.randn(8, generator=generator).to(torch.float8_e4m3fn),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    expected = load_file(str(path))
    with tensorfile.TensorFile(path) as handle:
        got = {entry.name: handle.read(entry) for entry in handle.entries}
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype and got[name].shape == tensor.shape, name
        assert torch.equal(bytes_of(got[name]), bytes_of(tensor)), name
    converted = read_all(path, dtype=torch.bfloat16)
    assert converted["f32"].dtype is torch.bfloat16 and converted["i64"].dtype is torch.int64
    assert torch.equal(converted["f32"], tensors["f32"].bfloat16())


def test_offsets_that_disagree_with_the_shape_are_refused(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}
    path = write_raw(tmp_path / "model.safetensors", header, b"\0" * 12)
    with pytest.raises(LoadError) as caught:
        read_all(path)
    assert caught.value.reason == "HeaderUnreadable"
    assert str(path) in caught.value.message and "needs 16" in caught.value.message


def test_a_dtype_torch_lacks_is_refused(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]}}
    path = write_raw(tmp_path / "model.safetensors", header, b"\0" * 2)
    with pytest.raises(LoadError) as caught:
        read_all(path)
    assert caught.value.reason == "HeaderUnreadable" and "'F4'" in caught.value.message


def test_a_file_cut_short_after_inspection_is_refused(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}
    path = write_raw(tmp_path / "model.safetensors", header, b"\0" * 1000)
    with pytest.raises(LoadError) as caught:
        read_all(path)
    assert caught.value.reason == "HeaderUnreadable"
    assert str(path) in caught.value.message and "truncated" in caught.value.message
