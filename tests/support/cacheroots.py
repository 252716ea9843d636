"""Cache roots built on disk for tests: model directories with real files, real sha256s and
the records a fetch leaves (manifest, intent, partial files), in any state, at any age.

    model = verified_model(tmp_path, "acme/tiny", commit_of("v1"), {"w.bin": b"..."})
    partial_model(tmp_path, "acme/tiny", commit_of("v2"), done=b"abc", total=10)
    age(model, days=9)  # every mtime under it, 9 days back
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from modeldeploy.hub import intent, manifest, records, sharing

REPO_ROOT = Path(__file__).resolve().parents[2]


def safetensors(size: int, *, fill: int = 1) -> bytes:
    """A valid safetensors file: one U8 tensor of `size` bytes."""
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}})
    raw = header.encode() + b" " * (-len(header) % 8)
    return len(raw).to_bytes(8, "little") + raw + bytes([fill]) * size


DEFAULT_FILES = {"config.json": b'{"model_type": "tiny"}\n', "model.safetensors": safetensors(4096)}


def commit_of(label: str) -> str:
    """A 40-hex commit named by `label` (stable across runs)."""
    return hashlib.sha1(label.encode()).hexdigest()


def ago(**delta: float) -> str:
    return records.iso(datetime.now(UTC) - timedelta(**delta))


def verified_model(
    root: Path,
    repo: str,
    commit: str,
    files: dict[str, bytes] | None = None,
    *,
    selection: sharing.Selection | None = None,
    verified_at: str | None = None,
    name: str | None = None,
) -> Path:
    """A complete model directory: its files and a manifest of their real sha256s."""
    selection = selection or sharing.Selection()
    directory = root / (name or sharing.model_dir_name(repo, commit, selection))
    entries = []
    for path, data in sorted((files or DEFAULT_FILES).items()):
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        entries.append(manifest.ManifestFile(path=path, size=len(data), sha256=digest))
    manifest.write_manifest(
        directory,
        manifest.Manifest(
            repo=repo,
            revision="main",
            commit=commit,
            endpoint="http://127.0.0.1:9",
            files=tuple(entries),
            verified_at=verified_at or records.now_iso(),
            extra={"selection": selection.to_json()},
        ),
    )
    return directory


def partial_model(
    root: Path,
    repo: str,
    commit: str,
    *,
    done: bytes = b"partial bytes",
    total: int = 1000,
    selection: sharing.Selection | None = None,
    name: str | None = None,
) -> Path:
    """A fetch that stopped half-way: its intent record and one partial file, no manifest."""
    selection = selection or sharing.Selection()
    directory = root / (name or sharing.model_dir_name(repo, commit, selection))
    part = directory / ".modeldeploy" / "partial" / "model.safetensors.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(done)
    intent.write_intent(
        directory,
        intent.Intent(
            repo=repo,
            revision="main",
            commit=commit,
            selection=selection,
            bytes_total=total,
            files_total=1,
            started_at=records.now_iso(),
        ),
    )
    return directory


def age(directory: Path, **delta: float) -> None:
    """Set the modification time of `directory` and everything in it `delta` back."""
    moment = (datetime.now(UTC) - timedelta(**delta)).timestamp()
    for folder, subfolders, names in os.walk(directory):
        for name in [*subfolders, *names]:
            os.utime(os.path.join(folder, name), (moment, moment), follow_symlinks=False)
    os.utime(directory, (moment, moment))


_HOLD = """
import sys
from pathlib import Path
from modeldeploy.hub import lock
with lock.directory_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held_by_another_process(directory: Path) -> Iterator[subprocess.Popen[str]]:
    """Hold `directory`'s lock in a child process (as a live fetch would) until the block ends."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "locked"
        yield child
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        child.stdout.close()
