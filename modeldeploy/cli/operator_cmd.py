"""`modeldeploy operator`: run the ModelDeployment operator (kopf)."""

from __future__ import annotations

import argparse
from typing import Any

from modeldeploy.cli.errors import CommandError

EPILOG = """\
environment (the Helm chart sets these; flags win):
  MODELDEPLOY_RUNTIME_IMAGE        default runtime image of ModelDeployments (builtin engine)
  MODELDEPLOY_VLLM_IMAGE           default image of engine: vllm with GPUs (vLLM for CUDA)
  MODELDEPLOY_VLLM_CPU_IMAGE       default image of engine: vllm without GPUs (vLLM's CPU build)
  MODELDEPLOY_DEFAULT_ENDPOINT     default hub endpoint (a mirror)
  MODELDEPLOY_CACHE_STORAGE_CLASS  default StorageClass of cache volumes
  MODELDEPLOY_NAMESPACES           comma-separated namespaces to watch (empty: all)
  MODELDEPLOY_STATUS_POLL_SECONDS  how often runtimes are asked for /status (default 15)
  MODELDEPLOY_RESOLVE_SECONDS      how often a branch is resolved again (default 300)
  MODELDEPLOY_STATUS_NETWORKS      CIDRs of pod IPs the operator may send /status requests to
  KUBECONFIG                       kubeconfig outside a cluster (default ~/.kube/config;
                                   in a pod: the service account). Without any of them
                                   the operator exits 1 at once, naming each place tried."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "operator",
        help="run the ModelDeployment operator",
        description="Reconcile ModelDeployments: resolve, fetch once, verify, place on GPUs, "
        "and report status read from the runtimes themselves.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeatable)",
    )
    parser.add_argument(
        "--all-namespaces", "-A", action="store_true", help="watch every namespace (the default)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="Prometheus metrics port (default 9090; 0: off)",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="liveness endpoint port (default 8081; 0: off)",
    )
    parser.add_argument(
        "--status-poll-seconds", type=float, default=None, help="runtime /status poll interval"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from modeldeploy.operator import app, config, kubeconfig

    if args.all_namespaces and args.namespace:
        raise CommandError("--all-namespaces and --namespace exclude each other", exit_code=2)
    try:
        settings = config.from_env()
    except config.SettingsError as exc:
        raise CommandError(str(exc)) from None
    overrides: dict[str, Any] = {"status_poll_seconds": args.status_poll_seconds}
    if args.namespace:
        overrides["namespaces"] = tuple(args.namespace)
    if args.all_namespaces:
        overrides["namespaces"] = ()
    settings = settings.with_overrides(**overrides)
    for flag, field in ((args.metrics_port, "metrics_port"), (args.health_port, "health_port")):
        if flag is not None:
            settings = (
                settings.with_overrides(**{field: flag}) if flag > 0 else _off(settings, field)
            )
    if settings.status_poll_seconds < 1:
        raise CommandError("--status-poll-seconds: at least 1 second", exit_code=2)
    try:
        app.run(settings, verbose=args.verbose)
    except kubeconfig.MissingConfigError as exc:  # raised before kopf starts
        raise CommandError(str(exc)) from None
    return 0


def _off(settings: Any, field: str) -> Any:
    from dataclasses import replace

    return replace(settings, **{field: None})
