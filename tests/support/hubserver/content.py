"""What the fake hub hosts: files with the hashes the real hub reports, repos, and helpers
that build test content (safetensors files, incompressible bytes)."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENDPOINTS = ("tree", "paths-info", "model-info")
DEFAULT_LFS_THRESHOLD = 1024  # small, so tests exercise LFS files without big data


@dataclass(frozen=True)
class HostedFile:
    """One file of a commit: its bytes (in memory or on disk) and the hashes the hub reports."""

    path: str
    size: int
    sha256: str
    git_sha1: str  # of the content for regular files, of the LFS pointer for LFS files
    lfs: bool
    pointer_size: int
    data: bytes | None = None
    source: Path | None = None

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.source is not None
        with self.source.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def hosted_file(path: str, content: bytes | Path, *, lfs_threshold: int) -> HostedFile:
    if isinstance(content, Path):
        size = content.stat().st_size
        digest = hashlib.sha256()
        with content.open("rb") as handle:
            while chunk := handle.read(8 << 20):
                digest.update(chunk)
        sha256, data, source = digest.hexdigest(), None, content
    else:
        size, data, source = len(content), content, None
        sha256 = hashlib.sha256(content).hexdigest()
    if size < lfs_threshold and data is not None:
        return HostedFile(path, size, sha256, git_blob_sha1(data), False, 0, data, source)
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    raw = pointer.encode()
    return HostedFile(path, size, sha256, git_blob_sha1(raw), True, len(raw), data, source)


@dataclass
class HostedRepo:
    repo_id: str
    commits: dict[str, dict[str, HostedFile]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    gated: bool = False
    private: bool = False
    tokens: frozenset[str] = frozenset()

    def commit_for(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    range: str | None
    status: int
    token_sent: bool
    at: float = field(default_factory=time.monotonic)  # when the answer started (monotonic)


def safetensors_bytes(
    tensors: Mapping[str, tuple[str, tuple[int, ...]]],
    *,
    metadata: Mapping[str, str] | None = None,
    fill: int = 0,
) -> bytes:
    """A valid safetensors file (no torch): `{name: (dtype, shape)}`, data filled with `fill`."""
    sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I8": 1, "U8": 1}
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        count = sizes[dtype]
        for dim in shape:
            count *= dim
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + count],
        }
        offset += count
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + bytes([fill]) * offset


def random_bytes(size: int, *, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(size)


def corrupt(data: bytes, *, offset: int = 0) -> bytes:
    """Wrong bytes of the same length: every 4096th byte of the file flipped."""
    out = bytearray(data)
    first = (-offset) % 4096
    for index in range(first, len(out), 4096):
        out[index] ^= 0xFF
    return bytes(out)
