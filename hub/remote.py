"""A file as the hub lists it at one commit, with the hash we expect its bytes to have."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One repo file. `sha256` (LFS files or a user pin) wins over `git_sha1` (small files)."""

    path: str
    size: int
    sha256: str | None
    git_sha1: str | None
    lfs: bool

    @property
    def has_expected_hash(self) -> bool:
        return self.sha256 is not None or self.git_sha1 is not None

    def describe_expected(self) -> str:
        if self.sha256 is not None:
            return f"sha256 {self.sha256}"
        if self.git_sha1 is not None:
            return f"git blob sha1 {self.git_sha1}"
        return "no expected hash"
