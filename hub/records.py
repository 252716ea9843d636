"""Small JSON records on disk, and the timestamps they carry.

Every record the hub keeps beside a model (the manifest, the intent of a fetch, a corruption
record) or on a cache root (the usage file) is written the same way: a temp file in the same
folder, fsync, rename. A reader therefore sees the old record or the new one, never half of
one, even when the writer is killed. Timestamps are UTC, ISO 8601 with a `Z`, to the second.

Stdlib only: `modeldeploy verify` and `modeldeploy cache ls` start lean.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any, *, make_parents: bool = True) -> Path:
    """Write `data` to `path` atomically (temp file + fsync + rename).

    `make_parents`: create its folder; without, a missing folder is FileNotFoundError (a
    record about a directory that was removed meanwhile must not bring it back).
    """
    import tempfile  # only writers pay for it

    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: Path) -> Any:
    """The JSON value in `path`; FileNotFoundError when absent, ValueError when malformed."""
    return json.loads(path.read_text(encoding="utf-8"))


def now_iso() -> str:
    return iso(datetime.now(UTC))


def iso(moment: datetime) -> str:
    """`moment` as `2024-05-01T10:00:00Z` (a naive datetime is taken to be UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time as an aware datetime (UTC when it names no zone); ValueError if not."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
