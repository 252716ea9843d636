"""`modeldeploy serve`: the in-pod runtime (HTTP probes, status, metrics, OpenAI-style API).

Only argparse here; the runtime (torch, transformers, aiohttp) is imported inside `run()`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from modeldeploy.cli import options
from modeldeploy.cli.errors import CommandError

# Requests that may wait at once (`--max-queue`), for Ready or for a batch slot: enough for a
# burst of clients retrying together, few enough that none waits behind a crowd it cannot see.
DEFAULT_MAX_QUEUE = 64
# Requests decoded together (or embedded in one forward pass) at most (`--max-batch`).
DEFAULT_MAX_BATCH = 16
# A request's whole time, queue included, before it is answered 504 (`--request-timeout`).
DEFAULT_REQUEST_TIMEOUT = 600.0

DESCRIPTION = """\
Serve one model directory. The HTTP server answers at once; the model is then verified,
loaded (with progress on /status) and warmed up, and /readyz turns 200 only after that.
With --repo, the model is fetched first unless the directory's manifest already records that
repo and revision (a directory holding another model is fetched over)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the in-pod runtime for one model directory",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model-dir", required=True, type=Path, help="the model directory")
    parser.add_argument("--host", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="listen port (default 8080)")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: CUDA when a device is visible, else CPU (default auto)",
    )
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "float16", "bfloat16"),
        default="auto",
        help="auto: the checkpoint's dtype (float16 becomes float32 on CPU)",
    )
    parser.add_argument(
        "--task",
        choices=("auto", "text-generation", "embeddings"),
        default="auto",
        help="auto: from config.json's architectures",
    )
    parser.add_argument("--served-model-name", help="name clients use in 'model'")
    parser.add_argument(
        "--termination-log",
        type=Path,
        default=Path("/dev/termination-log"),
        help="file that receives the failure reason (default /dev/termination-log)",
    )
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="serve a directory without a manifest (/status then says verified: false)",
    )
    parser.add_argument(
        "--verify",
        choices=("quick", "full"),
        default="quick",
        help="quick: manifest, sizes, safetensors headers (default); full: re-hash every file",
    )
    parser.add_argument(
        "--repo", help="per-pod fetch mode: fetch this repo first unless the directory holds it"
    )
    parser.add_argument("--revision", default="main", help="revision to fetch (default main)")
    parser.add_argument("--endpoint", help="hub endpoint to fetch from (default $HF_ENDPOINT)")
    options.add_selection_options(parser)  # --include, --allow-pickle, --sha256 (fetch too)
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run a real forward pass before Ready (default on)",
    )
    parser.add_argument("--warmup-prompt", default="Hello", help="warm-up prompt")
    parser.add_argument("--warmup-max-tokens", type=int, default=8, help="warm-up tokens")
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, help="seconds to wait for in-flight requests"
    )
    parser.add_argument(
        "--failure-linger",
        type=float,
        default=2.0,
        help="seconds /status stays up after a permanent failure before exit 1",
    )
    parser.add_argument(
        "--worker-niceness",
        type=int,
        default=0,
        help="nice increment for the loading and inference threads so probes win the CPU "
        "inside a pod's own CPU share (e.g. 10; default 0: on a shared node it also cedes "
        "CPU to other processes)",
    )
    parser.add_argument(
        "--queue-while-loading",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="let a /v1 request that arrives before Ready wait up to SECONDS for Ready "
        "(default 0: answer 503 with Retry-After at once)",
    )
    parser.add_argument(
        "--max-queue",
        type=_at_least_one,
        default=DEFAULT_MAX_QUEUE,
        metavar="N",
        help="at most N requests wait at once, for Ready or for a batch slot; one more is "
        f"answered 429 with Retry-After (default {DEFAULT_MAX_QUEUE})",
    )
    parser.add_argument(
        "--max-batch",
        type=_at_least_one,
        default=None,
        metavar="N",
        help="at most N requests are decoded together, or embedded in one forward pass "
        f"(default {DEFAULT_MAX_BATCH}; with --engine vllm it is vLLM's --max-num-seqs, "
        "default 256)",
    )
    parser.add_argument(
        "--request-timeout",
        type=_seconds,
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help="a request's whole time, from arrival (queue included) to its last token; past "
        f"it, 504 (default {DEFAULT_REQUEST_TIMEOUT:.0f}; 0: no limit)",
    )
    parser.add_argument(
        "--api-key-file",
        type=Path,
        metavar="PATH",
        help="every /v1 request then needs 'Authorization: Bearer <key>', the key being this "
        "file's content (surrounding whitespace stripped; re-read when the file changes); "
        "probes, /status and /metrics stay open",
    )
    parser.add_argument(
        "--engine",
        choices=("builtin", "vllm"),
        default="builtin",
        help="builtin: torch in this process (default); vllm: the vLLM engine as a child "
        "process on the verified directory, offline, behind the same states and probes "
        "(its interpreter: $MODELDEPLOY_VLLM_PYTHON, else /opt/vllm/bin/python)",
    )
    parser.add_argument(
        "--engine-arg",
        dest="engine_args",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for the engine, in the '=' form "
        "(--engine-arg=--max-model-len=4096); only allow-listed tuning flags pass "
        "(see docs/engines.md), anything else fails the start with InvalidEngineArgs",
    )
    parser.set_defaults(run=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more seconds")
    return value


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    import logging

    from modeldeploy.runtime import auth
    from modeldeploy.runtime.config import RuntimeConfig
    from modeldeploy.runtime.lifecycle import serve

    if args.warmup_max_tokens < 1:
        raise CommandError(f"--warmup-max-tokens must be at least 1, got {args.warmup_max_tokens}")
    if args.engine_args and args.engine != "vllm":
        raise CommandError("--engine-arg needs --engine vllm (the built-in engine takes none)")
    if args.api_key_file is not None:
        try:
            auth.KeyFile(args.api_key_file)  # refuse to start without a usable key
        except auth.KeyFileError as exc:
            raise CommandError(f"--api-key-file: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = RuntimeConfig(
        model_dir=args.model_dir,
        host=args.host,
        port=args.port,
        device=args.device,
        dtype=args.dtype,
        task=args.task,
        served_model_name=args.served_model_name,
        termination_log=args.termination_log,
        allow_unverified=args.allow_unverified,
        verify=args.verify,
        repo=args.repo,
        revision=args.revision,
        endpoint=args.endpoint,
        allow_pickle=args.allow_pickle,
        include=tuple(args.include),
        pins=dict(args.sha256),
        warmup=args.warmup,
        warmup_prompt=args.warmup_prompt,
        warmup_max_tokens=args.warmup_max_tokens,
        drain_timeout=args.drain_timeout,
        failure_linger=args.failure_linger,
        worker_niceness=args.worker_niceness,
        queue_while_loading=args.queue_while_loading,
        max_queue=args.max_queue,
        max_batch=args.max_batch if args.max_batch is not None else DEFAULT_MAX_BATCH,
        max_batch_given=args.max_batch is not None,
        request_timeout=args.request_timeout,
        api_key_file=args.api_key_file,
        engine=args.engine,
        engine_args=tuple(args.engine_args),
    )
    outcome = serve(config)
    if outcome.error is not None:
        raise CommandError(f"{outcome.error.reason}: {outcome.error.message}")
    return outcome.exit_code
