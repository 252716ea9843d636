"""Exceptions the load pipeline raises; the pipeline turns them into Failed + reason."""

from __future__ import annotations


class LoadError(Exception):
    """A permanent failure before Ready. `reason` is a typed CamelCase string (see
    `state.Reason`, or the fetcher's FetchReason); the message names the file at fault."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class LoadCancelledError(Exception):
    """SIGTERM arrived while fetching or loading: stop at the next safe point."""
