"""`modeldeploy fetch`: resolve, download and verify a Hugging Face repo into a directory.

Idempotent (a complete directory downloads nothing) and resumable (a killed fetch continues
from its partial files). The token comes from HF_TOKEN only and is never printed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from modeldeploy.cli import options
from modeldeploy.cli.errors import CommandError


def _repo(text: str) -> str:
    """REPO checked like the hub checks it, so a malformed id is a usage error (exit 2)."""
    from modeldeploy.hub import repoid  # stdlib only: the command still starts lean

    problem = repoid.repo_id_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"invalid repo id {text!r}: {problem}")
    return text


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download and verify a Hugging Face repo into a directory (resumes; idempotent)",
        description="Resolve REV to a commit, download the selected files of REPO into DIR "
        "(parallel, resumable, sha256-verified) and write DIR/.modeldeploy/manifest.json last. "
        "Token: HF_TOKEN. Endpoint: --endpoint, else HF_ENDPOINT, else huggingface.co.",
    )
    parser.add_argument("repo", metavar="REPO", type=_repo, help="repo id, e.g. acme/tiny-llama")
    parser.add_argument(
        "--dest", required=True, type=Path, metavar="DIR", help="the fetch directory"
    )
    parser.add_argument(
        "--revision",
        default="main",
        metavar="REV",
        help="branch, tag or 40-hex commit (default: main)",
    )
    parser.add_argument("--endpoint", metavar="URL", help="an HF-compatible endpoint")
    options.add_selection_options(parser)
    parser.add_argument(
        "--allow-missing-hash",
        action="store_true",
        help="accept files the hub gives no expected hash for (recorded as such)",
    )
    parser.add_argument(
        "--max-workers", type=int, default=4, metavar="N", help="files downloaded at once"
    )
    parser.add_argument(
        "--max-bytes-per-second", type=_positive, metavar="BPS", help="bandwidth limit, all files"
    )
    parser.add_argument(
        "--stall-timeout",
        type=_positive,
        default=60.0,
        metavar="SECONDS",
        help="retry a download that received no bytes for this long",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=5,
        metavar="N",
        help="retries per file without progress, with exponential backoff",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another fetcher of DIR to finish",
    )
    options.add_progress_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from modeldeploy.hub import console, fetch, interrupt
    from modeldeploy.hub.errors import FetchError

    printer = console.ProgressPrinter(args.progress)
    token = os.environ.get("HF_TOKEN") or None

    def work(cancel: Any) -> fetch.FetchResult:
        return fetch.fetch(
            args.repo,
            args.dest,
            revision=args.revision,
            endpoint=args.endpoint,
            token=token,
            include=tuple(args.include),
            allow_pickle=args.allow_pickle,
            pins=dict(args.sha256),
            max_workers=args.max_workers,
            max_bytes_per_second=args.max_bytes_per_second,
            on_progress=printer,
            cancel=cancel,
            allow_missing_hash=args.allow_missing_hash,
            stall_timeout=args.stall_timeout,
            retries=args.retries,
            lock_timeout=args.lock_timeout,
        )

    try:
        result = interrupt.run_cancellable(work)
    except FetchError as exc:
        printer.error(exc.reason.value, exc.message)
        raise CommandError(f"{args.repo}: {exc.reason.value}: {exc.message}") from None
    state = "already complete" if result.already_complete else "verified"
    printer.finish(
        f"{result.repo}@{result.commit}: {console.counted(len(result.files), 'file')}, "
        f"{console.human_size(result.bytes_total)} {state} in {result.seconds:.1f}s "
        f"({console.human_size(result.bytes_downloaded)} downloaded) -> {result.directory}"
    )
    return 0
