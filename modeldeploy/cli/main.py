"""Entry point of the `modeldeploy` console script.

Every subcommand lives in its own module with `register(subparsers)` and `run(args)`.
Those modules import only argparse at module level; each `run` imports the floor it
dispatches to, so `modeldeploy verify` never pays for kopf, pydantic or torch.

Exit codes (the contract): 0 success; 1 failure with a one-line reason on stderr;
2 usage error (argparse's own convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from modeldeploy.cli import crd, fetch, operator_cmd, render, serve, verify
from modeldeploy.cli.errors import CommandError

_COMMANDS = (operator_cmd, fetch, verify, serve, render, crd)

DESCRIPTION = """\
Deploy Hugging Face models onto GPU nodes, with state that never lies.

A model is Ready only when its verified weights sit on the device and a real
warm-up pass succeeded; every byte served was checked against the hub's sha256."""

EPILOG = """\
exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error
environment: HF_TOKEN (hub token, never printed), HF_ENDPOINT (default hub endpoint)"""


def package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("modeldeploy")
    except metadata.PackageNotFoundError:  # a tree that was never installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modeldeploy {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except CommandError as exc:
        print(f"modeldeploy {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"modeldeploy {args.command}: interrupted", file=sys.stderr)
        return 130
    return code
