"""Path safety: a repo listing names files; none of them may land outside the fetch directory.

A hostile or broken mirror could list `../../etc/cron.d/x`, an absolute path, or a name that
walks through a symlink placed in the directory. Names are checked when listed, and the final
location is checked again against the resolved directory right before writing.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from modeldeploy.hub.errors import FetchError, FetchReason
from modeldeploy.hub.layout import MANIFEST_DIR

__all__ = ["MANIFEST_DIR", "check_repo_path", "path_problem", "target_in"]


def check_repo_path(path: str) -> str:
    """Return `path` if it is a safe relative POSIX path inside a repo; raise UnsafePath."""
    problem = path_problem(path)
    if problem:
        raise FetchError(FetchReason.UnsafePath, f"refusing repo file {path!r}: {problem}")
    return path


def path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative repo path, or None when it is."""
    if not path or "\0" in path:
        return "empty name or NUL byte"
    if path.startswith("/") or "\\" in path or (len(path) > 1 and path[1] == ":"):
        return "absolute path"
    parts = PurePosixPath(path).parts
    if any(part in ("..", ".") for part in path.split("/")) or "" in path.split("/"):
        return "'..', '.' or empty path component"
    if parts and parts[0] == MANIFEST_DIR:
        return f"{MANIFEST_DIR}/ is reserved for the fetcher's own state"
    return None


def target_in(directory: Path, path: str) -> Path:
    """The file's location under `directory`, refusing one that resolves outside it.

    Resolving follows symlinks already present (in the directory or its subfolders), so a
    link such as `DIR/sub -> /etc` cannot carry a write out of the directory.
    """
    check_repo_path(path)
    root = directory.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or target == root:
        raise FetchError(
            FetchReason.UnsafePath,
            f"refusing repo file {path!r}: it resolves to {target}, outside {root}",
        )
    return root / path
