"""Read a safetensors file's tensors into memory this process owns, with plain reads.

Why not safetensors' `safe_open`: on CPU it hands out tensors that live on a memory map of
the file, so the served weights would be the cache volume's page cache. A byte changed in the
file on disk (a bad disk, a careless `cp` over the model, another pod repairing the
directory) would then change the weights of a replica that is already Ready, and every
check made at start-up would no longer say anything about what is being served. Here each
tensor is read with `pread` into a buffer allocated by torch for this process alone; no
mapping of the file is ever made, so once a tensor is read, the file can change or vanish.

One tensor at a time (the loader converts each before it reads the next), in file order, so
the read is sequential and the peak is the weights plus one tensor, never two copies.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from modeldeploy.hub import safetensors_header

# safetensors dtype names → torch dtypes; names torch lacks (F4, F6_*) are refused on read.
DTYPES: dict[str, torch.dtype] = {
    name: dtype
    for name, dtype in {
        "F64": torch.float64,
        "F32": torch.float32,
        "F16": torch.float16,
        "BF16": torch.bfloat16,
        "F8_E4M3": getattr(torch, "float8_e4m3fn", None),
        "F8_E5M2": getattr(torch, "float8_e5m2", None),
        "F8_E8M0": getattr(torch, "float8_e8m0fnu", None),
        "I64": torch.int64,
        "I32": torch.int32,
        "I16": torch.int16,
        "I8": torch.int8,
        "U64": getattr(torch, "uint64", None),
        "U32": getattr(torch, "uint32", None),
        "U16": getattr(torch, "uint16", None),
        "U8": torch.uint8,
        "BOOL": torch.bool,
    }.items()
    if dtype is not None
}


class TensorFileError(ValueError):
    """The file cannot be read as safetensors (the message says why, without the path)."""


@dataclass(frozen=True)
class Entry:
    """One tensor: where its bytes are in the file (absolute offsets) and what they hold."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    offset: int
    nbytes: int


class TensorFile:
    """An open safetensors file: `entries` in file order, `read(entry)` one tensor.

    Use as a context manager; the descriptor is closed on exit.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)  # larger read-ahead
            self.entries = _entries(self._fd)
        except BaseException:
            os.close(self._fd)
            raise

    def __enter__(self) -> TensorFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        os.close(self._fd)

    def read(self, entry: Entry) -> torch.Tensor:
        """The tensor's bytes, read into a new buffer owned by this process."""
        buffer = torch.empty(entry.nbytes, dtype=torch.uint8)
        if entry.nbytes:
            _read_exact(self._fd, buffer.numpy().data, entry.offset)
        return buffer.view(entry.dtype).reshape(entry.shape)


def _entries(fd: int) -> list[Entry]:
    """Parse the header at the start of the file; every tensor, in order of its offset."""
    try:
        length = safetensors_header.header_length(os.pread(fd, 8, 0))
        raw = os.pread(fd, length, 8)
        if len(raw) != length:
            raise TensorFileError(f"header truncated ({len(raw)} of {length} bytes)")
        header = safetensors_header.parse_header(raw)
    except safetensors_header.HeaderError as exc:
        raise TensorFileError(str(exc)) from exc
    data_start = 8 + length
    entries = [
        _entry(name, spec, data_start)
        for name, spec in header.items()
        if name != safetensors_header.METADATA_KEY
    ]
    return sorted(entries, key=lambda e: e.offset)


def _entry(name: str, spec: dict[str, Any], data_start: int) -> Entry:
    dtype = DTYPES.get(str(spec["dtype"]))
    if dtype is None:
        raise TensorFileError(f"tensor {name!r}: dtype {spec['dtype']!r} is not supported")
    shape = tuple(int(d) for d in spec["shape"])
    start, end = (int(o) for o in spec["data_offsets"])
    if end - start != math.prod(shape) * dtype.itemsize:
        raise TensorFileError(
            f"tensor {name!r}: data_offsets {[start, end]} hold {end - start} bytes, "
            f"shape {list(shape)} of {spec['dtype']} needs {math.prod(shape) * dtype.itemsize}"
        )
    return Entry(name=name, dtype=dtype, shape=shape, offset=data_start + start, nbytes=end - start)


def _read_exact(fd: int, view: memoryview, offset: int) -> None:
    """Fill `view` from `offset`; a file that ends first is truncated (TensorFileError)."""
    done = 0
    while done < len(view):
        count = os.preadv(fd, [view[done:]], offset + done)
        if count == 0:
            raise TensorFileError(
                f"file ends at byte {offset + done}, inside a tensor that runs to "
                f"{offset + len(view)} (truncated?)"
            )
        done += count
