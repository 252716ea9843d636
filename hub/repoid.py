"""Repo ids as the hub accepts them: `name` or `owner/name`, checked before any work starts.

The hub library rejects a malformed id only when the first request is built, after the
fetch directory and its lock exist, and with its own exception type. Checking up front (the
same rules: word characters, `-` and `.`, no `--` or `..`, each part starting and ending with
a letter, digit or `_`, at most 96 characters a part) gives a one-line reason instead, and
lets the command line treat a bad id as a usage error. Stdlib only.
"""

from __future__ import annotations

import re

from modeldeploy.hub.errors import FetchError, FetchReason

_PART = r"(?:\w|\w[\w.-]{0,94}\w)"
REPO_ID = re.compile(rf"(?:{_PART}/)?{_PART}", re.ASCII)


def repo_id_problem(repo: str) -> str | None:
    """Why `repo` is not a valid repo id, or None when it is."""
    if not REPO_ID.fullmatch(repo):
        return "expected NAME or OWNER/NAME of letters, digits, '_', '-' and '.'"
    if "--" in repo or ".." in repo:
        return "'--' and '..' are not allowed"
    if repo.endswith(".git"):
        return "a repo id does not end in '.git'"
    return None


def check_repo_id(repo: str) -> str:
    """Return `repo` when valid; else FetchError(InvalidRepoId) naming it."""
    problem = repo_id_problem(repo)
    if problem is not None:
        raise FetchError(FetchReason.InvalidRepoId, f"invalid repo id {repo!r}: {problem}")
    return repo
