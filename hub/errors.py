"""Typed fetch failures.

Every failure the fetcher reports carries a `FetchReason`. The operator copies the reason
verbatim into a status condition's `reason`, and the runtime into `/status`'s error, so the
values are CamelCase strings equal to their names and must never be renamed.
"""

from __future__ import annotations

from enum import StrEnum


class FetchReason(StrEnum):
    """Why a fetch, verify or repair failed (stable strings: external tooling reads them)."""

    Unauthorized = "Unauthorized"
    GatedRepo = "GatedRepo"
    RepoNotFound = "RepoNotFound"
    RevisionNotFound = "RevisionNotFound"
    EntryNotFound = "EntryNotFound"
    ChecksumMismatch = "ChecksumMismatch"
    NoExpectedHash = "NoExpectedHash"
    InsufficientDisk = "InsufficientDisk"
    PickleRefused = "PickleRefused"
    UnsafePath = "UnsafePath"
    Stalled = "Stalled"
    NetworkError = "NetworkError"
    Interrupted = "Interrupted"
    ManifestMissing = "ManifestMissing"
    ManifestInvalid = "ManifestInvalid"
    Locked = "Locked"
    VerificationFailed = "VerificationFailed"


# Failures worth another attempt: the network may recover; the others will not change.
RETRYABLE = frozenset({FetchReason.NetworkError, FetchReason.Stalled})


class FetchError(Exception):
    """A fetch failure with a typed reason; the message names the repo, file or path at fault."""

    def __init__(self, reason: FetchReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"FetchError({self.reason.value}, {self.message!r})"
