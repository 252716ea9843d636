"""The directory of one model on a cache root: the sharing key.

Two deployments share a directory only when they want the same repo, the same commit and
the same file selection (`include` patterns, `allowPickle`, `sha256` pins): forks can share a
commit hash, and two selections of one commit are different sets of files. The directory
name encodes all three, `<owner>--<name>--<commit>--<digest>`, where the digest is the first
12 hex digits of the sha256 of the selection's canonical JSON. Repo ids never contain `--`
(see `repoid`), so the name parses back unambiguously. The operator and the command line
both name directories with `model_dir_name`, and nothing else does.

Directories of the older layout, `ROOT/<commit>` (one per commit on a deployment's own
volume), are model directories too: `legacy_commit` reads their commit from the name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

COMMIT = re.compile(r"[0-9a-f]{40}")
DIGEST = re.compile(r"[0-9a-f]{12}")
SEPARATOR = "--"


@dataclass(frozen=True)
class Selection:
    """Which files of a commit a directory holds; canonical whichever way it was built."""

    include: tuple[str, ...] = ()
    allow_pickle: bool = False
    sha256: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", tuple(sorted(set(self.include))))
        pins = {path: digest.lower() for path, digest in self.sha256}
        object.__setattr__(self, "sha256", tuple(sorted(pins.items())))

    @classmethod
    def of(
        cls,
        *,
        include: Iterable[str] | None = None,
        allow_pickle: bool = False,
        sha256: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> Selection:
        """From the fields as a spec or the command line gives them (None for not given)."""
        pins = sha256.items() if isinstance(sha256, Mapping) else (sha256 or ())
        return cls(include=tuple(include or ()), allow_pickle=allow_pickle, sha256=tuple(pins))

    def to_json(self) -> dict[str, Any]:
        return {
            "allowPickle": self.allow_pickle,
            "include": list(self.include),
            "sha256": dict(self.sha256),
        }

    @classmethod
    def from_json(cls, data: Any) -> Selection:
        """The selection a manifest or intent record holds; ValueError when malformed."""
        if not isinstance(data, Mapping):
            raise ValueError(f"selection must be an object, not {type(data).__name__}")
        include, pins = data.get("include", []), data.get("sha256", {})
        allow_pickle = data.get("allowPickle", False)
        if not isinstance(include, list) or not all(isinstance(p, str) for p in include):
            raise ValueError("selection.include must be a list of strings")
        if not isinstance(pins, Mapping) or not all(isinstance(v, str) for v in pins.values()):
            raise ValueError("selection.sha256 must map paths to hex digests")
        if not isinstance(allow_pickle, bool):
            raise ValueError("selection.allowPickle must be true or false")
        return cls.of(include=include, allow_pickle=allow_pickle, sha256=pins)

    def digest(self) -> str:
        """First 12 hex digits of the sha256 of the canonical JSON (sorted keys, no spaces)."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def model_dir_name(repo: str, commit: str, selection: Selection) -> str:
    """`<owner>--<name>--<commit>--<digest>` (`<name>--<commit>--<digest>` without owner)."""
    if not COMMIT.fullmatch(commit):
        raise ValueError(f"{commit!r} is not a 40-hex commit")
    if SEPARATOR in repo or not repo or repo.count("/") > 1:
        raise ValueError(f"{repo!r} is not a repo id (NAME or OWNER/NAME, no '--')")
    return SEPARATOR.join([*repo.split("/"), commit, selection.digest()])


def parse_model_dir_name(name: str) -> tuple[str, str, str] | None:
    """(repo, commit, digest) of a name `model_dir_name` made; None for any other name."""
    parts = name.split(SEPARATOR)
    if len(parts) not in (3, 4) or not all(parts):
        return None
    *repo, commit, digest = parts
    if not COMMIT.fullmatch(commit) or not DIGEST.fullmatch(digest):
        return None
    if any(part.startswith(".") for part in repo):
        return None
    return "/".join(repo), commit, digest


def legacy_commit(name: str) -> str | None:
    """The commit of an older `ROOT/<commit>` directory, or None for any other name."""
    return name if COMMIT.fullmatch(name) else None
