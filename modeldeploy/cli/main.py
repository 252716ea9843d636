"""Entry point of the `modeldeploy` console script.

Every subcommand lives in its own module with `register(subparsers)` and `run(args)`.
Those modules import only argparse at module level; each `run` imports the floor it
dispatches to, so `modeldeploy verify` never pays for kopf, pydantic or torch.

Exit codes (the contract): 0 success; 1 failure with a one-line reason on stderr;
2 usage error (argparse's own convention).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from modeldeploy.cli import crd, fetch, operator_cmd, render, serve, verify
from modeldeploy.cli.errors import CommandError

_COMMANDS = (operator_cmd, fetch, verify, serve, render, crd)

DESCRIPTION = """\
Deploy Hugging Face models onto GPU nodes, with state that never lies.

A model is Ready only when its verified weights sit on the device and a real
warm-up pass succeeded; every byte served was checked against the hub's sha256."""

EPILOG = """\
exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error
debugging: MODELDEPLOY_DEBUG=1 shows the traceback of an unexpected error
environment: HF_TOKEN (hub token, never printed), HF_ENDPOINT (default hub endpoint)"""


DEBUG_ENV = "MODELDEPLOY_DEBUG"


def package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("modeldeploy")
    except metadata.PackageNotFoundError:  # a tree that was never installed
        return "0+unknown"


class _VersionAction(argparse.Action):
    """--version, looking the version up only when asked (every start stays lean)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"modeldeploy {package_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_parsed(build_parser().parse_args(argv))


def run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed command; every failure becomes one line on stderr and exit 1."""
    try:
        code: int = args.run(args)
    except CommandError as exc:
        print(f"modeldeploy {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"modeldeploy {args.command}: error: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:
        # The contract: one line naming what failed, exit 1. A bug still shows its
        # traceback with MODELDEPLOY_DEBUG=1.
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"modeldeploy {args.command}: error: unexpected {type(exc).__name__}: {exc} "
            f"(set {DEBUG_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    return code
