"""Resolve a branch, tag or sha to the one 40-hex commit a fetch downloads."""

from __future__ import annotations

import re

from modeldeploy.hub import hubapi
from modeldeploy.hub.errors import FetchError, FetchReason

COMMIT = re.compile(r"[0-9a-f]{40}")


def is_commit(revision: str) -> bool:
    return COMMIT.fullmatch(revision) is not None


def resolve_revision(repo: str, revision: str, *, endpoint: str | None, token: str | None) -> str:
    """Ask the hub which commit `revision` names now; return its full 40-hex sha.

    Asked even for a full sha, so a typo fails here (RevisionNotFound) instead of as a
    missing file later.
    """
    api = hubapi.client(endpoint=endpoint, token=token)
    what = f"{repo}@{revision}"
    info = hubapi.call(lambda: api.model_info(repo, revision=revision), what=what)
    sha = getattr(info, "sha", None)
    if isinstance(sha, str) and is_commit(sha):
        return sha
    if is_commit(revision):
        return revision  # a mirror that omits `sha` but knows the commit
    raise FetchError(
        FetchReason.RevisionNotFound,
        f"{what}: the hub did not report a commit sha for this revision",
    )
