"""Scrub a cache root: re-hash every model against its manifest, record or repair what rotted.

For every Verified or Corrupted model of an inventory (Fetching, Repairing and Incomplete
ones have no complete manifest to check against), a full verify (`verify`), then:

* every file good: the corruption record goes, and a manifest that a failed repair had set
  aside is put back (nothing to download), so the model is Verified again;
* bad files, `repair`: only those are re-downloaded from the manifest's repo and commit and
  checked against its hashes (`repairing`); the model is Verified again, or, when the repair
  fails, Corrupted with its bad files recorded;
* bad files, no repair: recorded in `corrupted.json` (`corruption`): the model is Corrupted,
  its bad files named, until a repair or a clean scrub.

Every file of every model is hashed in one pool (`verify.verify_many`), biggest first, so
all cores stay busy however the bytes are spread over models; repairs follow, one model
after another.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy.hub import corruption, verify
from modeldeploy.hub.errors import FetchError
from modeldeploy.hub.inventory import Inventory, InventoryModel, State
from modeldeploy.hub.manifest import manifest_path

CHECKED = (State.VERIFIED, State.CORRUPTED)


@dataclass(frozen=True)
class ModelCheck:
    """What scrubbing one model found and did."""

    name: str
    repo: str | None
    commit: str | None
    bad: tuple[str, ...] = ()
    """`path: reason` of every file found bad (repaired or not)."""
    repaired: tuple[str, ...] = ()
    error: str | None = None
    """Why a repair (or the check itself) failed."""
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    details: tuple[str, ...] = field(default=(), compare=False)
    """Each bad file with both digests, for people."""

    @property
    def ok(self) -> bool:
        """Every file matches the manifest now (after a repair, if one was made)."""
        return self.error is None and (not self.bad or bool(self.repaired))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "repo": self.repo,
            "commit": self.commit,
            "ok": self.ok,
            "bad": list(self.bad),
            "repaired": list(self.repaired),
        }
        if self.error is not None:
            doc["error"] = self.error
        return doc


def scrub(
    root: Path,
    inventory: Inventory,
    *,
    repair: bool,
    max_workers: int | None = None,
    token: str | None = None,
    cancel: threading.Event | None = None,
    on_check: Callable[[ModelCheck], None] | None = None,
) -> list[ModelCheck]:
    """Check every Verified or Corrupted model of `inventory` (under `root`); see the doc."""
    models = [m for m in inventory.models if m.state in CHECKED]
    reports = verify.verify_many(
        [root / m.name for m in models], max_workers=max_workers, repairing=True, cancel=cancel
    )
    checks = []
    for model, report in zip(models, reports, strict=True):
        check = _act_on(
            root / model.name,
            model,
            report,
            repair=repair,
            max_workers=max_workers,
            token=token,
            cancel=cancel,
        )
        if check is None:
            continue
        checks.append(check)
        if on_check is not None:
            on_check(check)
    return checks


def _act_on(
    directory: Path,
    model: InventoryModel,
    report: verify.VerifyReport | FetchError,
    *,
    repair: bool,
    max_workers: int | None,
    token: str | None,
    cancel: threading.Event | None,
) -> ModelCheck | None:
    """Record, clear or repair what one model's verify found; None when it is gone."""
    try:
        return _record(
            directory,
            model,
            report,
            repair=repair,
            max_workers=max_workers,
            token=token,
            cancel=cancel,
        )
    except FileNotFoundError:
        if directory.is_dir():
            raise
        return None  # evicted while it was being checked


def _record(
    directory: Path,
    model: InventoryModel,
    report: verify.VerifyReport | FetchError,
    *,
    repair: bool,
    max_workers: int | None,
    token: str | None,
    cancel: threading.Event | None,
) -> ModelCheck | None:
    if isinstance(report, FetchError):
        if not directory.is_dir():
            return None  # evicted meanwhile
        problem = f"{report.reason.value}: {report.message}"
        return ModelCheck(model.name, model.repo, model.commit, bad=(problem,), error=problem)
    bad = tuple(f"{b.path}: {b.reason}" for b in report.bad)
    found = ModelCheck(
        model.name,
        model.repo,
        model.commit,
        bad=bad,
        files=report.files_checked,
        bytes=report.bytes_checked,
        seconds=report.seconds,
        details=tuple(b.describe() for b in report.bad),
    )
    if report.ok and manifest_path(directory).exists():
        corruption.clear_corruption(directory)
        return found
    if not (report.ok or repair):
        corruption.record_corruption(directory, bad)
        return found
    try:
        mended = _mend(report, max_workers=max_workers, token=token, cancel=cancel)
    except FetchError as exc:
        corruption.record_corruption(directory, bad)
        failed = f"repair failed: {exc.reason.value}: {exc.message}"
        return dataclasses.replace(found, error=failed)
    corruption.clear_corruption(directory)
    return dataclasses.replace(found, repaired=mended.repaired, seconds=mended.seconds)


def _mend(
    report: verify.VerifyReport,
    *,
    max_workers: int | None,
    token: str | None,
    cancel: threading.Event | None,
) -> verify.VerifyReport:
    from modeldeploy.hub import repairing  # the download machinery only when it is needed

    return repairing.mend(report, token=token, max_workers=max_workers, cancel=cancel)
