"""Command line: python -m tests.support.cluster up|down|status|env (hack/local-cluster.sh)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.cluster import lifecycle, processes, tools
from tests.support.cluster import node as node_support
from tests.support.cluster.errors import ClusterError
from tests.support.cluster.node import RealNode

STATE_ENV = "MODELDEPLOY_CLUSTER_STATE"


def _state_from(args: argparse.Namespace) -> Path:
    chosen = args.state_dir or os.environ.get(STATE_ENV)
    if chosen:
        return Path(chosen)
    if lifecycle.pointer().exists():
        return Path(lifecycle.pointer().read_text().strip())
    raise ClusterError("no cluster recorded: pass --state-dir or run `up` first")


def _env_lines(state: Path) -> str:
    return f"export KUBECONFIG={state / 'admin.kubeconfig'}\nexport {STATE_ENV}={state}\n"


def _cmd_up(args: argparse.Namespace) -> int:
    node = RealNode(images=tuple(Path(i).resolve() for i in args.image)) if args.node else None
    if args.image and node is None:
        raise ClusterError("--image needs --node")
    bin_dir = tools.find_bin_dir(node=args.node)
    if bin_dir is None:
        components = f'MODELDEPLOY_TOOLS="{tools.NODE_TOOLS}" ' if args.node else ""
        raise ClusterError(
            f"Kubernetes test binaries not built: run {components}hack/build-tools.sh"
        )
    if node is not None:
        node_support.refuse_if_running()  # before making a state dir that would be left over
    state = lifecycle.new_state_dir()
    began = time.monotonic()
    try:
        cluster = lifecycle.start(state, bin_dir, full=not args.control_plane_only, node=node)
    except BaseException:
        lifecycle.stop_processes(state)
        print(f"# start failed; logs kept in {state}/logs (remove the dir when done)",
              file=sys.stderr)  # fmt: skip
        raise
    lifecycle.pointer().write_text(f"{state}\n")
    print(f"# cluster up in {time.monotonic() - began:.1f} s: {cluster.server}", file=sys.stderr)
    print(_env_lines(state), end="")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    state = _state_from(args)
    lifecycle.stop(state)
    if lifecycle.pointer().exists() and lifecycle.pointer().read_text().strip() == str(state):
        lifecycle.pointer().unlink()
    print(f"# stopped and removed {state}", file=sys.stderr)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    state = _state_from(args)
    if not (state / "pids").is_dir():
        print(f"no cluster at {state}")
        return 1
    alive = True
    for name, pid, ticks in processes.recorded_processes(state):
        running = processes.alive(pid, ticks)
        alive = alive and running
        print(f"{name:24} pid {pid:<8} {'running' if running else 'stopped'}")
    return 0 if alive else 1


def _cmd_env(args: argparse.Namespace) -> int:
    print(_env_lines(_state_from(args)), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.cluster",
        description="Local Kubernetes control plane with simulated (kwok) GPU nodes or a real one.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help='start a cluster; prints shell exports (eval "$(... up)")')
    up.add_argument("--control-plane-only", action="store_true", help="only etcd + apiserver")
    real = "a real node (kubelet, containerd, kube-proxy) instead of kwok's; needs root"
    up.add_argument("--node", action="store_true", help=real)
    up.add_argument("--image", action="append", default=[], metavar="ARCHIVE",
                    help="with --node: an OCI archive to import (repeatable)")  # fmt: skip
    for name in ("down", "status", "env"):
        sub.add_parser(name).add_argument("--state-dir", help=f"default: ${STATE_ENV} or last up")
    up.set_defaults(state_dir=None)
    args = parser.parse_args(argv)
    handlers = {"up": _cmd_up, "down": _cmd_down, "status": _cmd_status, "env": _cmd_env}
    try:
        return handlers[args.command](args)
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
