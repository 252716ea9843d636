"""`modeldeploy crd`: print the CustomResourceDefinitions generated from the API models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from modeldeploy.cli.errors import CommandError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crd",
        help="print the CRDs (ModelDeployment, ModelCache) as YAML, generated from the API models",
        description="Print the apiextensions.k8s.io/v1 CustomResourceDefinitions for "
        "ModelDeployment and ModelCache, in that order, as one multi-document YAML stream, "
        "generated from the pydantic models (crds/ holds one file per CRD, the same bytes).",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write one file per CRD into DIR (named as in crds/) instead of printing",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from modeldeploy.operator.api import crd

    if args.output_dir is None:
        sys.stdout.write(crd.render_all_yaml())
        return 0
    if not args.output_dir.is_dir():
        raise CommandError(f"--output-dir {args.output_dir}: not a directory")
    for definition in crd.DEFINITIONS:
        target = args.output_dir / Path(definition.file).name
        try:
            target.write_text(crd.render_crd_yaml(definition=definition))
        except OSError as exc:
            raise CommandError(f"{target}: {exc.strerror or exc}") from None
    return 0
