"""Start-up integrity check: is this directory what the manifest says it is?

Quick (default): the manifest is present, every listed file exists with the listed size, and
every safetensors header parses — cheap enough for every start, and it catches truncated and
half-copied files. Full (`--verify full`): re-hash every byte against the manifest's sha256.
The work is the fetcher's (`modeldeploy.hub.verify`); this module maps its findings to the
runtime's typed reasons. A directory without a manifest is served only with
`--allow-unverified`, and `/status` then says `verified: false`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modeldeploy.hub import corruption, verify
from modeldeploy.hub import manifest as manifests
from modeldeploy.hub.errors import FetchError
from modeldeploy.hub.progress import ProgressEvent
from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.errors import LoadError
from modeldeploy.runtime.state import Reason


@dataclass(frozen=True)
class Found:
    verified: bool
    manifest: manifests.Manifest | None
    files_checked: int


_REASONS: dict[str, str] = {
    "missing": Reason.FILE_MISSING,
    "size mismatch": Reason.SIZE_MISMATCH,
    "sha256 mismatch": Reason.FILE_CORRUPT,
    "header unreadable": Reason.HEADER_UNREADABLE,
}


def fetch_reason(config: RuntimeConfig) -> tuple[str, str] | None:
    """Per-pod fetch mode: why the directory must be fetched first (reason, message), or None.

    A repo was given and the directory has no readable manifest (never fetched completely),
    or its manifest records another repo or revision: serving that under `--repo` would
    answer with a different model than the one asked for. The fetcher replaces such files.
    """
    if config.repo is None:
        return None
    asked = f"{config.repo}@{config.revision}"
    try:
        found = manifests.read_manifest(config.model_dir)
    except manifests.ManifestError as exc:
        return "ManifestIncomplete", f"fetching {asked}: {exc}"
    if found.repo != config.repo or config.revision not in (found.revision, found.commit):
        return "ManifestMismatch", (
            f"fetching {asked}: {config.model_dir} holds {found.repo}@{found.revision}"
        )
    return None


def check(
    directory: Path,
    *,
    full: bool,
    allow_unverified: bool,
    on_progress: Callable[[float], None] | None = None,
) -> Found:
    """Verify `directory` against its manifest; raise LoadError naming the first bad file."""
    if not directory.is_dir():
        raise LoadError(Reason.FILE_MISSING, f"{directory}: model directory does not exist")
    if not manifests.manifest_path(directory).is_file():
        if allow_unverified:
            return Found(verified=False, manifest=None, files_checked=0)
        raise LoadError(
            Reason.MANIFEST_MISSING,
            f"{manifests.manifest_path(directory)}: no manifest, so the files are unverified; "
            f"fetch with 'modeldeploy fetch' or pass --allow-unverified",
        )
    recorded = corruption.read_corruption(directory)
    if recorded is not None and not full:
        # A scheduled re-hash of the cache found bad bytes: replicas already serving keep
        # their weights (in memory), but none starts on them until a repair clears it.
        raise LoadError(
            Reason.FILE_CORRUPT,
            f"{directory}: the cache's scheduled verify found bad files "
            f"({'; '.join(recorded.bad)}); waiting for a repair",
        )
    report = _verify(directory, full=full, on_progress=on_progress)
    if report.bad:
        bad = report.bad[0]
        found = f" (expected {bad.expected}, got {bad.actual})" if bad.expected else ""
        raise LoadError(_REASONS[bad.reason], f"{directory / bad.path}: {bad.reason}{found}")
    return Found(verified=True, manifest=report.manifest, files_checked=report.files_checked)


def _verify(
    directory: Path, *, full: bool, on_progress: Callable[[float], None] | None
) -> verify.VerifyReport:
    def forward(event: ProgressEvent) -> None:
        if on_progress is None or event.phase != "verifying":
            return
        if event.bytes_total:
            on_progress(min(event.bytes_done / event.bytes_total, 1.0))
        elif event.files_total:
            on_progress(min(event.files_done / event.files_total, 1.0))

    try:
        return verify.verify_directory(directory, full=full, on_progress=forward)
    except FetchError as exc:
        raise LoadError(str(exc.reason), exc.message) from exc
