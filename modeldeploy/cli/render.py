"""`modeldeploy render FILE`: print the objects the operator would apply, as a YAML stream.

It calls the operator's own planners (not a copy of them) and never touches the network:
a branch or tag is not resolved, so revision-bound names and arguments carry the revision
as given and the label value `unresolved`; the output says so in a comment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from modeldeploy.cli.errors import CommandError

PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render",
        help="print the objects the operator would create for a ModelDeployment (YAML)",
        description="Print, as a YAML stream, the children the operator would apply for the "
        "ModelDeployment in FILE (using the operator's planners; no network, no cluster).",
    )
    parser.add_argument(
        "file", metavar="FILE", help="ModelDeployment manifest (YAML; '-' reads stdin)"
    )
    parser.add_argument(
        "--nodes",
        metavar="NODES.yaml",
        help="Node objects to run the GPU preflight fit check against",
    )
    parser.set_defaults(run=run)


def _load_yaml(path: str, what: str) -> list[Any]:
    import yaml

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except OSError as exc:
        raise CommandError(f"{path}: cannot read {what}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CommandError(_yaml_problem(path, exc)) from None


def _yaml_problem(path: str, exc: Exception) -> str:
    """`FILE:LINE:COLUMN: not valid YAML: PROBLEM (CONTEXT at line L, column C)`, one line.

    pyyaml's own text spans several lines (a quoted snippet with a caret under it), which
    becomes an unreadable run-on once joined; its marks say the same thing in compiler form.
    """
    where = "<stdin>" if path == "-" else path
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return f"{where}: not valid YAML: {' '.join(str(exc).split())}"
    text = f"{where}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        text += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    elif context:
        text += f" ({context})"
    return text


def _nodes(path: str | None) -> list[dict[str, Any]] | None:
    if path is None:
        return None
    nodes: list[dict[str, Any]] = []
    for doc in _load_yaml(path, "nodes"):
        items = doc.get("items", [doc]) if isinstance(doc, dict) else []
        nodes += [
            item for item in items if isinstance(item, dict) and item.get("kind", "Node") == "Node"
        ]
    return nodes


def run(args: argparse.Namespace) -> int:
    import yaml

    from modeldeploy.operator import config
    from modeldeploy.operator.api.validation import InvalidModelDeploymentError
    from modeldeploy.operator.planners import render as render_planner

    docs = _load_yaml(args.file, "the ModelDeployment")
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise CommandError(f"{args.file}: expected exactly one ModelDeployment object")
    try:
        settings = config.from_env()  # the operator's defaults (image, endpoint, storage class)
    except config.SettingsError as exc:
        raise CommandError(str(exc)) from None
    try:
        result = render_planner.render(
            docs[0], nodes=_nodes(args.nodes), settings=settings, placeholder_uid=PLACEHOLDER_UID
        )
    except InvalidModelDeploymentError as exc:
        for problem in exc.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        raise CommandError(
            f"{args.file}: {len(exc.problems)} problem(s); nothing rendered"
        ) from None
    for line in result.notes:
        sys.stdout.write(f"# {line}\n")
    dumper = type("NoAliasDumper", (yaml.SafeDumper,), {"ignore_aliases": lambda self, data: True})
    sys.stdout.write(
        yaml.dump_all(
            result.objects, Dumper=dumper, sort_keys=False, explicit_start=True, width=100
        )
    )
    return 0
