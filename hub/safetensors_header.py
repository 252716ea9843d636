"""Read safetensors headers without torch: sizes and shapes of every tensor, locally or over
HTTP Range requests.

A safetensors file starts with an 8-byte little-endian header length, then that many bytes
of JSON mapping tensor names to `{dtype, shape, data_offsets}`. The operator estimates GPU
memory from the headers alone, before anything is downloaded; the runtime's quick verify
checks that every header parses. Stdlib only, on purpose.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modeldeploy.hub.errors import FetchError, FetchReason

# Larger headers do not occur in practice; refusing them bounds what a bad file can cost.
MAX_HEADER_BYTES = 100 * 1024 * 1024
METADATA_KEY = "__metadata__"

DTYPE_BYTES: dict[str, float] = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "F4": 0.5,
    "F6_E2M3": 0.75,
    "F6_E3M2": 0.75,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
}
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0"})
TARGET_DTYPES: dict[str, float] = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "half": 2,
    "float": 4,
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
}


class HeaderError(ValueError):
    """The bytes are not a readable safetensors header; the message says why."""


def parse_header(prefix: bytes, length: int | None = None) -> dict[str, Any]:
    """Parse the JSON header from the bytes that follow the 8-byte length."""
    try:
        header = json.loads(prefix[:length] if length is not None else prefix)
    except ValueError as exc:
        raise HeaderError(f"header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise HeaderError("header is not a JSON object")
    for name, entry in header.items():
        if name == METADATA_KEY:
            continue
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
            raise HeaderError(f"tensor {name!r} lacks dtype, shape or data_offsets")
        _check_entry(name, entry)
    return header


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_entry(name: str, entry: dict[str, Any]) -> None:
    """Types every later reader relies on, so a bad file fails here with its reason."""
    if not isinstance(entry["dtype"], str):
        raise HeaderError(f"tensor {name!r}: dtype {entry['dtype']!r} is not a string")
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise HeaderError(f"tensor {name!r}: shape {shape!r} is not a list of integers >= 0")
    offsets = entry["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_count(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise HeaderError(
            f"tensor {name!r}: data_offsets {offsets!r} is not two integers [start, end]"
        )


def header_length(first8: bytes) -> int:
    if len(first8) < 8:
        raise HeaderError("file shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", first8[:8])
    if not 2 <= length <= MAX_HEADER_BYTES:
        raise HeaderError(f"implausible header length {length}")
    return int(length)


def read_header(path: Path) -> dict[str, Any]:
    """The header of a local safetensors file; HeaderError when it cannot be one.

    Also checks that the tensors' data fits in the file, which catches truncation.
    """
    with path.open("rb") as handle:
        length = header_length(handle.read(8))
        raw = handle.read(length)
        if len(raw) != length:
            raise HeaderError(f"header truncated ({len(raw)} of {length} bytes)")
        header = parse_header(raw)
        handle.seek(0, 2)
        size = handle.tell()
    data_end = max(
        (e["data_offsets"][1] for n, e in header.items() if n != METADATA_KEY), default=0
    )
    if 8 + length + int(data_end) > size:
        raise HeaderError(f"tensor data runs past the end of the file ({size} bytes)")
    return header


def tensor_bytes(header: dict[str, Any], *, dtype: str | None = None) -> int:
    """Bytes of all tensors; re-sized to `dtype` (e.g. "float16") for floating-point tensors.

    Integer tensors (quantized weights, ids) keep their size: a dtype cast leaves them alone.
    """
    target = None if dtype in (None, "auto") else TARGET_DTYPES.get(str(dtype))
    if dtype not in (None, "auto") and target is None:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(TARGET_DTYPES)}")
    total = 0.0
    for name, entry in header.items():
        if name == METADATA_KEY:
            continue
        start, end = entry["data_offsets"]
        if target is not None and entry["dtype"] in FLOAT_DTYPES:
            total += math.prod(entry["shape"]) * target
        else:
            total += int(end) - int(start)
    return math.ceil(total)


def remote_header(url: str, *, token: str | None) -> dict[str, Any]:
    """A remote file's header, from two small Range requests (length, then JSON)."""
    from modeldeploy.hub import transfer  # the HTTP stack only when used: verify stays lean

    length = header_length(transfer.get_range(url, token=token, start=0, end=7))
    return parse_header(transfer.get_range(url, token=token, start=8, end=8 + length - 1))


def remote_weight_bytes(
    repo: str,
    commit: str,
    *,
    endpoint: str | None,
    token: str | None,
    dtype: str | None = None,
    files: Sequence[str] | None = None,
    max_workers: int = 8,
) -> int:
    """Bytes of all tensors in the repo's safetensors files at `commit`, read from headers.

    `files` names the safetensors files when the caller already listed them; otherwise the
    tree is listed (one JSON request). Raises FetchError(EntryNotFound) when there are none.
    """
    from concurrent.futures import ThreadPoolExecutor

    from modeldeploy.hub import hubapi, transfer

    base = hubapi.endpoint_or_default(endpoint)
    names = list(files) if files is not None else _safetensors_files(base, repo, commit, token)
    if not names:
        raise FetchError(FetchReason.EntryNotFound, f"{repo}@{commit}: no .safetensors files")
    urls = [transfer.resolve_url(base, repo, commit, name) for name in names]
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(urls)))) as pool:
        headers = list(pool.map(lambda url: remote_header(url, token=token), urls))
    return sum(tensor_bytes(header, dtype=dtype) for header in headers)


def _safetensors_files(endpoint: str, repo: str, commit: str, token: str | None) -> list[str]:
    from modeldeploy.hub import transfer

    url: str | None = f"{endpoint}/api/models/{repo}/tree/{commit}?recursive=true"
    names: list[str] = []
    while url:
        with transfer.opened(
            url, headers=transfer.request_headers(token), timeout=30.0
        ) as response:
            page = json.loads(response.body.read())
            url = _next_link(response.header("Link"))
        names += [
            e["path"]
            for e in page
            if e.get("type") == "file" and str(e.get("path", "")).endswith(".safetensors")
        ]
    return sorted(names)


def _next_link(link: str | None) -> str | None:
    """The `rel="next"` URL of a Link header (the hub paginates long trees)."""
    for part in (link or "").split(","):
        if 'rel="next"' in part and "<" in part:
            return part[part.index("<") + 1 : part.index(">")]
    return None
