"""`modeldeploy cache ls|verify|gc ROOT`: a cache root of model directories, as files.

The same operations the ModelCache's Jobs run, for anyone with a plain directory: list every
model directory with its state and size (`hub.inventory`), re-hash every model and repair
only bad files (`hub.verify`, `hub.repairing`), and remove what the retention policy says,
each with its reason (`hub.retention`, `hub.eviction`). Thin: parse, call the hub, print.
With `--json` the last stdout line is one JSON document (what the operator reads).

Every argument is checked before anything on disk changes: a malformed one is a usage error
(exit 2), a ROOT that is not a cache root a failure (exit 1), each one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modeldeploy.cli.errors import CommandError

if TYPE_CHECKING:
    from modeldeploy.hub.inventory import Inventory
    from modeldeploy.hub.retention import Policy
    from modeldeploy.hub.usage import UsageUpdate

KEEP = re.compile(r"(?P<repo>[^@\s]+)@(?P<commit>[0-9a-fA-F]{40})")
QUANTITY = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<suffix>[KMGTPE]i|[kMGTPE])?")
SUFFIXES = {
    **{f"{p}i": 1024 ** (i + 1) for i, p in enumerate("KMGTPE")},
    **{p: 1000 ** (i + 1) for i, p in enumerate("kMGTPE")},
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cache",
        help="list, verify and clean a cache root of model directories",
        description="Operate on a cache root: a directory holding one directory per model "
        "(<owner>--<name>--<commit>--<selection digest>, or <commit> for a deployment's own "
        "volume). What the ModelCache's Jobs run, for any plain directory.",
    )
    commands = parser.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    _register_ls(commands)
    _register_verify(commands)
    _register_gc(commands)


def _register_ls(commands: Any) -> None:
    parser = commands.add_parser(
        "ls",
        help="every model directory with its state, size and use",
        description="List every model directory under ROOT with its state (Verified, "
        "Fetching, Incomplete, Corrupted, Repairing), size, files and use. Reads only.",
    )
    _root_and_json(parser)
    _capacity(parser)
    parser.set_defaults(run=run_ls, command="cache ls")


def _register_verify(commands: Any) -> None:
    parser = commands.add_parser(
        "verify",
        help="re-hash every model; exit 1 naming each bad file",
        description="Hash every byte of every Verified or Corrupted model under ROOT against "
        "its manifest. A model with bad files is recorded Corrupted (exit 1, naming each file "
        "and its model); --repair re-downloads only those files (token: HF_TOKEN).",
    )
    _root_and_json(parser)
    parser.add_argument("--repair", action="store_true", help="re-download bad files")
    parser.add_argument(
        "--max-workers",
        type=int,
        metavar="N",
        help="files hashed in parallel (default: one per core); with --repair also the "
        "files downloaded at once (default 4)",
    )
    _usage(parser)
    parser.set_defaults(run=run_verify, command="cache verify")


def _register_gc(commands: Any) -> None:
    parser = commands.add_parser(
        "gc",
        help="remove old commits, unused models and abandoned fetches, saying why",
        description="Remove, each with its reason: old commits of a kept or preloaded model, "
        "models unused for longer than DUR (preloads exempt), partial fetches untouched for "
        "longer than DUR, and, above the high watermark, the least recently used models until "
        "the low one. Never a kept model, one in use (usage file) or one being fetched.",
    )
    _root_and_json(parser)
    parser.add_argument(
        "--max-unused-for",
        required=True,
        metavar="DUR",
        help="e.g. 168h, 7d, 1h30m (units s, m, h, d)",
    )
    parser.add_argument(
        "--high-watermark",
        metavar="P",
        help="percent of the capacity above which least recently used models go (default 90 "
        "when --low-watermark is given; no watermark rule without either)",
    )
    parser.add_argument("--low-watermark", metavar="P", help="percent to go down to (default 75)")
    for flag, what in (("--keep", "never remove"), ("--preload", "exempt from DUR")):
        parser.add_argument(
            flag, action="append", default=[], metavar="REPO@COMMIT", help=f"{what} (repeatable)"
        )
    _capacity(parser)
    parser.add_argument(
        "--cancelled",
        action="append",
        default=[],
        metavar="NAME",
        help="a directory whose download was cancelled: its partial files go now, if it is "
        "still incomplete and unused (repeatable)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would go; change nothing"
    )
    _usage(parser)
    parser.set_defaults(run=run_gc, command="cache gc")


def _root_and_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", metavar="ROOT", type=Path, help="the cache root")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (the last stdout line)"
    )


def _capacity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--capacity",
        metavar="Q",
        help="the cache's size in bytes or as a quantity (200Gi); default: its file system's",
    )


def _usage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--usage",
        metavar="JSON",
        help='use to record first: {"<dir name>": {"lastUsed", "requests", "usedBy"}}, or '
        "@FILE holding it (max requests and lastUsed are kept, usedBy replaced)",
    )


# --- the commands ----------------------------------------------------------------------------


def run_ls(args: argparse.Namespace) -> int:
    from modeldeploy.cli import cache_output

    inventory = _scan(args.root, capacity=parse_capacity(args.capacity))
    if args.json:
        _print_json(inventory.to_json())
    else:
        cache_output.print_inventory(inventory)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from modeldeploy.cli import cache_output
    from modeldeploy.hub import interrupt, scrub
    from modeldeploy.hub.errors import FetchError

    if args.max_workers is not None and args.max_workers < 1:
        raise CommandError("--max-workers: must be at least 1", exit_code=2)
    updates = parse_usage(args.usage)
    inventory = _scan(args.root, updates=updates)
    token = os.environ.get("HF_TOKEN") or None
    try:
        checks = interrupt.run_cancellable(
            lambda cancel: scrub.scrub(
                args.root,
                inventory,
                repair=args.repair,
                max_workers=args.max_workers,
                token=token,
                cancel=cancel,
                on_check=None if args.json else cache_output.print_check,
            )
        )
    except FetchError as exc:  # interrupted (Ctrl-C, SIGTERM)
        raise CommandError(f"{exc.reason.value}: {exc.message}") from None
    after = _scan(args.root, capacity=inventory.capacity_bytes)
    if args.json:
        _print_json({"verify": [c.to_json() for c in checks], "inventory": after.to_json()})
    else:
        cache_output.print_summary(after)
    failed = [c for c in checks if not c.ok]
    if failed:
        raise CommandError(cache_output.failure_line(failed))
    return 0


def run_gc(args: argparse.Namespace) -> int:
    from modeldeploy.cli import cache_output
    from modeldeploy.hub import eviction, records, retention

    policy = parse_policy(args.max_unused_for, args.high_watermark, args.low_watermark)
    keep, preload = parse_models(args.keep, "--keep"), parse_models(args.preload, "--preload")
    capacity = parse_capacity(args.capacity)
    updates = parse_usage(args.usage)
    inventory = _scan(args.root, capacity=capacity, updates=updates, record=not args.dry_run)
    if not args.dry_run:
        eviction.clear_leftovers(args.root)
    now = records.parse_iso(inventory.scanned_at)
    planned = retention.plan_gc(
        inventory, policy, keep=keep, preload=preload, now=now, cancelled=set(args.cancelled)
    )
    if args.dry_run:
        outcomes = [eviction.Outcome(e, removed=False) for e in planned]
        after = inventory
    else:
        outcomes = eviction.evict_all(args.root, planned)
        after = _scan(args.root, capacity=inventory.capacity_bytes)
    if args.json:
        listed = [o for o in outcomes if o.removed or args.dry_run]
        _print_json(
            {
                "removed": [o.eviction.to_json() for o in listed],
                "skipped": [
                    {"name": o.eviction.name, "why": o.skipped} for o in outcomes if o.skipped
                ],
                "dryRun": args.dry_run,
                "inventory": after.to_json(),
            }
        )
    else:
        cache_output.print_gc(outcomes, dry_run=args.dry_run)
        cache_output.print_summary(after)
    return 0


# --- arguments, checked before anything changes ------------------------------------------------


def parse_capacity(text: str | None) -> int | None:
    """`--capacity`: bytes, or a Kubernetes quantity (200Gi, 1.5T)."""
    if text is None:
        return None
    match = QUANTITY.fullmatch(text.strip())
    value = float(match["number"]) * SUFFIXES.get(match["suffix"] or "", 1) if match else 0
    if value < 1:
        raise CommandError(
            f"--capacity {text!r}: expected a positive size in bytes or a quantity like 200Gi",
            exit_code=2,
        )
    return int(value)


def parse_policy(max_unused_for: str, high: str | None, low: str | None) -> Policy:
    from modeldeploy.hub import durations, retention

    try:
        seconds = durations.parse_seconds(max_unused_for)
    except ValueError as exc:
        raise CommandError(f"--max-unused-for: {exc}", exit_code=2) from None
    if high is None and low is None:
        return retention.Policy(max_unused_for=seconds, high_watermark=None)
    marks = (_percent(high, "--high-watermark", 90), _percent(low, "--low-watermark", 75))
    try:
        return retention.Policy(
            max_unused_for=seconds, high_watermark=marks[0], low_watermark=marks[1]
        )
    except ValueError as exc:
        raise CommandError(f"--low-watermark/--high-watermark: {exc}", exit_code=2) from None


def _percent(text: str | None, flag: str, default: int) -> int:
    if text is None:
        return default
    if not text.strip().isdigit() or int(text) > 100:
        raise CommandError(f"{flag} {text!r}: expected a percentage, 0 to 100", exit_code=2)
    return int(text)


def parse_models(items: list[str], flag: str) -> set[tuple[str, str]]:
    """`REPO@COMMIT` items as (repo, lower-case commit) pairs."""
    from modeldeploy.hub import repoid

    models = set()
    for item in items:
        match = KEEP.fullmatch(item)
        problem = repoid.repo_id_problem(match["repo"]) if match else None
        if match is None or problem is not None:
            why = problem or "expected REPO@COMMIT with a 40-hex commit"
            raise CommandError(f"{flag} {item!r}: {why}", exit_code=2)
        models.add((match["repo"], match["commit"].lower()))
    return models


def parse_usage(text: str | None) -> dict[str, UsageUpdate]:
    """`--usage`: JSON, or @FILE holding it, as usage updates (empty when not given)."""
    from modeldeploy.hub import usage

    if text is None:
        return {}
    try:
        raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        return usage.parse_updates(json.loads(raw))
    except OSError as exc:
        raise CommandError(f"--usage {text}: {exc.strerror or exc}", exit_code=2) from None
    except ValueError as exc:  # malformed JSON, or a UsageError
        raise CommandError(f"--usage: {exc}", exit_code=2) from None


def _scan(
    root: Path,
    *,
    capacity: int | None = None,
    updates: dict[str, UsageUpdate] | None = None,
    record: bool = True,
) -> Inventory:
    """The inventory of ROOT with `updates` merged into its usage file (only in memory when
    `record` is false), or the one-line failure that ROOT is not a cache root."""
    from modeldeploy.hub import inventory, usage

    try:
        inventory.check_root(root)
        use = None
        if updates and record:
            usage.merge(root, updates)
        elif updates:
            use = usage.merged(usage.read(root), updates)
        return inventory.scan(root, capacity_bytes=capacity, use=use)
    except (inventory.RootError, usage.UsageError) as exc:
        raise CommandError(str(exc)) from None


def _print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()
