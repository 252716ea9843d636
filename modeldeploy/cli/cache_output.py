"""How `modeldeploy cache` reads to a person: a table, one line per check or removal.

(`--json` prints the hub's own documents instead; see `cache`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from modeldeploy.hub.console import counted, human_size

if TYPE_CHECKING:
    from modeldeploy.hub.eviction import Outcome
    from modeldeploy.hub.inventory import Inventory, InventoryModel
    from modeldeploy.hub.scrub import ModelCheck

COLUMNS = ("STATE", "SIZE", "FILES", "VERIFIED", "LAST-USED", "REQUESTS", "USED-BY", "DIRECTORY")


def print_inventory(inventory: Inventory) -> None:
    rows = [COLUMNS, *(_row(m) for m in inventory.models)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    for row, model in zip(rows, (None, *inventory.models), strict=True):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
        for bad in model.bad_files if model is not None else ():
            print(f"    bad: {bad}")
    print_summary(inventory)


def _row(model: InventoryModel) -> tuple[str, ...]:
    size = human_size(model.bytes)
    if model.bytes_total and model.bytes_done < model.bytes_total:
        size += f" ({model.bytes_done * 100 // model.bytes_total}% of "
        size += f"{human_size(model.bytes_total)})"
    return (
        model.state.value,
        size,
        str(model.files),
        model.verified_at or "-",
        model.last_used or "-",
        str(model.requests),
        ",".join(model.used_by) or "-",
        model.name,
    )


def print_summary(inventory: Inventory) -> None:
    used, capacity = inventory.used_bytes, inventory.capacity_bytes
    share = f" ({used * 100 / capacity:.1f}%)" if capacity else ""
    count = len(inventory.models)
    print(
        f"{count} model{'s' if count != 1 else ''} in {inventory.root}: "
        f"{human_size(used)} used of {human_size(capacity)}{share}"
    )


def print_check(check: ModelCheck) -> None:
    if check.error is not None and not check.details:
        print(f"BAD       {check.name}: {check.error}")
        return
    for detail in check.details:
        print(f"{'repaired' if check.repaired else 'BAD':<10}{check.name}: {detail}")
    if check.error is not None:
        print(f"BAD       {check.name}: {check.error}")
    elif not check.details:
        print(
            f"ok        {check.name}: {counted(check.files, 'file')}, {human_size(check.bytes)} "
            f"re-hashed in {check.seconds:.1f}s"
        )


def failure_line(failed: Sequence[ModelCheck]) -> str:
    """One line naming every bad file and its model (the command's stderr on exit 1)."""
    files = sum(len(c.bad) for c in failed)
    parts = []
    for check in failed:
        why = ", ".join(check.bad)
        if check.error is not None and check.error not in check.bad:
            why += f" ({check.error})"
        parts.append(f"{check.name}: {why}")
    noun = "model" if len(failed) == 1 else "models"
    return f"{files} bad file(s) in {len(failed)} {noun}: " + "; ".join(parts)


def print_gc(outcomes: Sequence[Outcome], *, dry_run: bool) -> None:
    freed = 0
    for outcome in outcomes:
        eviction = outcome.eviction
        what = f"{eviction.name} ({human_size(eviction.bytes)})"
        if outcome.skipped is not None:
            print(f"kept          {what}: {outcome.skipped} (was: {eviction.why})")
            continue
        freed += eviction.bytes
        print(f"{'would remove' if dry_run else 'removed':<14}{what}: {eviction.why}")
    verb = "would free" if dry_run else "freed"
    print(f"{verb} {human_size(freed)}" if outcomes else "nothing to remove")
