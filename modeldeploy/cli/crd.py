"""`modeldeploy crd`: print the CustomResourceDefinition generated from the API models."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crd",
        help="print the ModelDeployment CRD (YAML), generated from the API models",
        description="Print the apiextensions.k8s.io/v1 CustomResourceDefinition for "
        "ModelDeployment, generated from the pydantic models (crds/ holds this exact output).",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from modeldeploy.operator.api import crd

    sys.stdout.write(crd.render_crd_yaml())
    return 0
