"""`modeldeploy verify`: re-hash every file of a fetch directory against its manifest.

Starts lean (no pydantic, no huggingface_hub) and hashes files in parallel; `--repair`
re-downloads only the bad files from the manifest's repo and commit.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from modeldeploy.cli import options
from modeldeploy.cli.errors import CommandError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="re-check every file of a fetch directory against its manifest",
        description="Hash every byte of DIR's files and compare with DIR/.modeldeploy/"
        "manifest.json. Exit 1 naming each bad file; --repair re-downloads only those.",
    )
    parser.add_argument("directory", metavar="DIR", type=Path)
    parser.add_argument(
        "--repair",
        action="store_true",
        help="re-download bad files from the manifest's repo and commit",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="check presence, sizes and safetensors headers only (no hashing)",
    )
    parser.add_argument(
        "--endpoint", metavar="URL", help="for --repair: an endpoint other than the manifest's"
    )
    parser.add_argument(
        "--max-workers",
        type=int,
        metavar="N",
        help="files hashed in parallel (default: one per core); with --repair also the "
        "files downloaded at once (default 4)",
    )
    options.add_progress_option(parser)
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    from modeldeploy.hub import console
    from modeldeploy.hub import verify as verifying
    from modeldeploy.hub.errors import FetchError

    if args.repair and args.quick:
        args.parser.error("--quick and --repair exclude each other (a repair hashes every file)")
    printer = console.ProgressPrinter(args.progress)
    try:
        if args.repair:
            report = _repair(args, printer)
        else:
            report = verifying.verify_directory(
                args.directory,
                full=not args.quick,
                max_workers=args.max_workers,
                on_progress=printer,
            )
    except FetchError as exc:
        printer.error(exc.reason.value, exc.message)
        raise CommandError(f"{exc.reason.value}: {exc.message}") from None
    if not report.ok:
        printer.error("VerificationFailed", report.summary())
        raise CommandError(report.summary())
    repaired = f"; repaired {', '.join(report.repaired)}" if report.repaired else ""
    printer.finish(report.summary() + repaired)
    return 0


def _repair(args: argparse.Namespace, printer: Any) -> Any:
    from modeldeploy.hub import interrupt, repairing

    token = os.environ.get("HF_TOKEN") or None
    return interrupt.run_cancellable(
        lambda cancel: repairing.repair(
            args.directory,
            endpoint=args.endpoint,
            token=token,
            max_workers=args.max_workers,
            on_progress=printer,
            cancel=cancel,
        )
    )
