"""Entry point of the `modeldeploy` console script.

Every subcommand lives in its own module with `register(subparsers)` and `run(args)`.
Those modules import only argparse at module level; each `run` imports the floor it
dispatches to, so `modeldeploy verify` never pays for kopf, pydantic or torch.

Exit codes (the contract): 0 success; 1 failure with a one-line reason on stderr;
2 usage error (argparse's own convention), with the usage of the subcommand at fault.
A reader that closes the output early (`modeldeploy render FILE | head -1`) ends the
command quietly with 141, the status a shell reports for `cat` killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from modeldeploy.cli import cache, crd, fetch, operator_cmd, render, serve, verify
from modeldeploy.cli.errors import CommandError

_COMMANDS = (operator_cmd, fetch, verify, cache, serve, render, crd)

DESCRIPTION = """\
Deploy Hugging Face models onto GPU nodes, with state that never lies.

A model is Ready only when its verified weights sit on the device and a real
warm-up pass succeeded; every byte served was checked against the hub's sha256."""

EPILOG = """\
exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error
debugging: MODELDEPLOY_DEBUG=1 shows the traceback of an unexpected error
environment: HF_TOKEN (hub token, never printed), HF_ENDPOINT (default hub endpoint)
a closed output pipe (e.g. `| head`) ends the command quietly with exit code 141"""


DEBUG_ENV = "MODELDEPLOY_DEBUG"
PIPE_CLOSED_EXIT = 128 + signal.SIGPIPE  # 141: what a shell reports for `cat` in `cat | head`


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


class _SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an argument it does not know is its own usage error.

    By default argparse hands a subcommand's unknown arguments back to the top-level
    parser, whose error then shows the top-level usage instead of the subcommand's.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_SubcommandParser
    )
    for command in _COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run_parsed(build_parser().parse_args(argv))
    except BrokenPipeError:  # --help, or a failure's line, into a closed pipe
        closed = _closed_outputs()
        if not closed:
            raise
        return _output_closed(closed)


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
        closed = _closed_outputs() if isinstance(exc, BrokenPipeError) else []
        if closed:
            return _output_closed(closed)
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


def _closed_outputs() -> list[int]:
    """stdout's and stderr's descriptors that are pipes whose reader is gone.

    A BrokenPipeError can also come from a socket's peer; that one is a failure to report.
    """
    import select

    descriptors = []
    for stream in (sys.stdout, sys.stderr):
        try:
            descriptors.append(stream.fileno())
        except (AttributeError, OSError, ValueError):  # replaced (tests) or closed stream
            continue
    if not hasattr(select, "poll"):
        return descriptors[:1]  # no way to tell: take the likely cause, stdout
    poller = select.poll()
    for descriptor in descriptors:
        poller.register(descriptor, select.POLLOUT)
    return [fd for fd, events in poller.poll(0) if events & select.POLLERR]


def _output_closed(descriptors: list[int]) -> int:
    """End quietly once the reader has gone, as `cat` does (no traceback, no message).

    The closed outputs are pointed at /dev/null so that flushing what is still buffered at
    exit does not raise again (the recipe in the documentation of Python's signal module).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    for descriptor in descriptors:
        os.dup2(devnull, descriptor)
    os.close(devnull)
    return PIPE_CLOSED_EXIT
