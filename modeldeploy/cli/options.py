"""Options that several subcommands share, defined once."""

from __future__ import annotations

import argparse
import re

PIN = re.compile(r"(?P<path>.+)=(?P<hex>[0-9a-fA-F]{64})")


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """`--progress auto|json|none`, as `fetch` and `verify` print it."""
    parser.add_argument(
        "--progress",
        choices=("auto", "json", "none"),
        default="auto",
        help="auto: a live bar on a terminal; json: one JSON object per line (last: done or "
        "error); none: only the final summary",
    )


def pin(text: str) -> tuple[str, str]:
    """`PATH=HEX` of `--sha256`, as a (path, lower-case digest) pair."""
    match = PIN.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PATH=<64 hex sha256>")
    return match["path"], match["hex"].lower()


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    """Which files of the repo to fetch and what to expect of them (`fetch`, `serve --repo`)."""
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only files matching GLOB (repeatable)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="accept .bin/.pt/.pth/.ckpt weights when there are no safetensors",
    )
    parser.add_argument(
        "--sha256",
        action="append",
        default=[],
        type=pin,
        metavar="PATH=HEX",
        help="pin a file's sha256 (overrides the hub's; repeatable)",
    )
