"""The record of a model directory's bad files: `DIR/.modeldeploy/corrupted.json`.

`cache verify` writes it (`{checkedAt, bad: ["path: reason"]}`) when a full re-hash finds
files that no longer match the manifest and it does not (or cannot) repair them; the
inventory then says Corrupted and names the files. A repair that puts the manifest back, or
a later clean verify, removes it. The manifest stays where it is: it is still the record of
what every file must hash to, which is what a repair needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy.hub import records
from modeldeploy.hub.layout import CORRUPTED_NAME, MANIFEST_DIR


@dataclass(frozen=True)
class Corruption:
    checked_at: str
    bad: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"checkedAt": self.checked_at, "bad": list(self.bad)}


def corrupted_path(directory: Path) -> Path:
    return directory / MANIFEST_DIR / CORRUPTED_NAME


def record_corruption(directory: Path, bad: Sequence[str]) -> Corruption:
    """Write the record; FileNotFoundError when the directory is gone (never recreated)."""
    corruption = Corruption(checked_at=records.now_iso(), bad=tuple(bad))
    records.write_json(corrupted_path(directory), corruption.to_json(), make_parents=False)
    return corruption


def read_corruption(directory: Path) -> Corruption | None:
    """The record, None when there is none; an unreadable one still says "corrupted"."""
    path = corrupted_path(directory)
    try:
        data = records.read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return Corruption(checked_at="", bad=(f"{path.name}: unreadable ({exc})",))
    bad = data.get("bad") if isinstance(data, dict) else None
    if not isinstance(bad, list):
        return Corruption(checked_at="", bad=(f"{path.name}: malformed",))
    return Corruption(checked_at=str(data.get("checkedAt", "")), bad=tuple(map(str, bad)))


def clear_corruption(directory: Path) -> None:
    corrupted_path(directory).unlink(missing_ok=True)
