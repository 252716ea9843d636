"""What a fetch is about to bring into a directory, written before its first byte.

`DIR/.modeldeploy/intent.json`: `{repo, revision, commit, selection, bytesTotal, filesTotal,
startedAt}`. Until the manifest is written the directory holds only partial files; the intent
says what they are part of, so an inventory can name a fetch that is running or one that
died (and how far it got) instead of an anonymous folder of bytes. Removed once the manifest,
which says everything the intent did, is in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy.hub import records
from modeldeploy.hub.layout import INTENT_NAME, MANIFEST_DIR
from modeldeploy.hub.sharing import Selection


@dataclass(frozen=True)
class Intent:
    repo: str
    revision: str
    commit: str
    selection: Selection
    bytes_total: int
    files_total: int
    started_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "selection": self.selection.to_json(),
            "bytesTotal": self.bytes_total,
            "filesTotal": self.files_total,
            "startedAt": self.started_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> Intent:
        """ValueError (or KeyError, TypeError) when `data` is not an intent record."""
        return cls(
            repo=str(data["repo"]),
            revision=str(data["revision"]),
            commit=str(data["commit"]),
            selection=Selection.from_json(data["selection"]),
            bytes_total=int(data["bytesTotal"]),
            files_total=int(data["filesTotal"]),
            started_at=str(data["startedAt"]),
        )


def intent_path(directory: Path) -> Path:
    return directory / MANIFEST_DIR / INTENT_NAME


def write_intent(directory: Path, intent: Intent) -> Path:
    return records.write_json(intent_path(directory), intent.to_json())


def read_intent(directory: Path) -> Intent | None:
    """The intent record, or None when there is none or it cannot be read."""
    try:
        return Intent.from_json(records.read_json(intent_path(directory)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_intent(directory: Path) -> None:
    intent_path(directory).unlink(missing_ok=True)
