"""How a command reports failure: one line on stderr, exit code 1."""

from __future__ import annotations


class CommandError(Exception):
    """A failure the user can act on. The message names the file, repo or field at fault."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
