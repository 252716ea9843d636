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
    InvalidRepoId = "InvalidRepoId"
    DestinationUnusable = "DestinationUnusable"


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


ACCESS_ADVICE = "set HF_TOKEN to a token"
"""How every message about a missing or insufficient token words its advice: the command
line's. Where users give the token another way (a Kubernetes Secret), the caller puts its
own words in its place (`with_token_advice`)."""
GATED = (
    f"gated repo; request access on the hub and {ACCESS_ADVICE} of an account that was granted it"
)


def with_token_advice(message: str, advice: str) -> str:
    """`message` with its token advice (`ACCESS_ADVICE`) in the words of `advice`."""
    return message.replace(ACCESS_ADVICE, advice)


# The hub's `X-Error-Code` header names the failure exactly; it wins over the status.
_HUB_ERROR_CODES = {
    "GatedRepo": (FetchReason.GatedRepo, GATED),
    "RepoNotFound": (
        FetchReason.RepoNotFound,
        f"repository not found (if it is private, {ACCESS_ADVICE} that can read it)",
    ),
    "RevisionNotFound": (FetchReason.RevisionNotFound, "revision not found"),
    "EntryNotFound": (FetchReason.EntryNotFound, "file not found"),
}


def from_http(status: int, code: str | None, where: str, *, file: bool) -> FetchError:
    """The one mapping of a hub HTTP error to a reason, for the hub client and raw transfers.

    `file`: whether `where` is a file download (`/resolve/...`) rather than a repo API call.
    Without an error code a 404 means the thing asked for is missing: the file for a
    download, the repo for an API call (the hub answers an unknown repo with a bare 404).
    """
    known = _HUB_ERROR_CODES.get(code or "")
    if known is not None:
        return FetchError(known[0], f"{where}: {known[1]}")
    if status == 404:
        missing = FetchReason.EntryNotFound if file else FetchReason.RepoNotFound
        return FetchError(missing, f"{where}: {_HUB_ERROR_CODES[missing.value][1]} (HTTP 404)")
    if status in (401, 403):
        return FetchError(
            FetchReason.Unauthorized,
            f"{where}: HTTP {status}: not authorized ({ACCESS_ADVICE} that can read this repo)",
        )
    return FetchError(FetchReason.NetworkError, f"{where}: HTTP {status} from the hub")
