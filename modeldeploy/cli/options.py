"""Options that several subcommands share, defined once."""

from __future__ import annotations

import argparse


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """`--progress auto|json|none`, as `fetch` and `verify` print it."""
    parser.add_argument(
        "--progress",
        choices=("auto", "json", "none"),
        default="auto",
        help="auto: a live bar on a terminal; json: one JSON object per line (last: done or "
        "error); none: only the final summary",
    )
