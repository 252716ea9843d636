"""Run the operator: kopf's embedding API with our handlers, metrics and liveness endpoint."""

from __future__ import annotations

import asyncio
import logging

import kopf

from modeldeploy.operator import handlers, health, kubeconfig
from modeldeploy.operator.config import Settings


def run(settings: Settings, *, verbose: bool = False) -> None:
    """Block running the operator until SIGINT/SIGTERM (kopf handles both).

    Raises kubeconfig.MissingConfigError before kopf starts when there is no Kubernetes
    configuration (kopf itself would retry its login forever).
    """
    source = kubeconfig.require()
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.FULL)
    quiet = ["httpx", "httpcore", "httpx2", "aiohttp.access"]
    if not verbose:
        quiet.append("kopf.objects")  # one line per watch event of every child is noise
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger(__name__).info("Kubernetes configuration: %s", source)
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings)
    if settings.metrics_port is not None:
        health.start_metrics(settings.metrics_port)
    liveness = (
        health.liveness_endpoint(settings.health_port) if settings.health_port is not None else None
    )
    asyncio.run(
        kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=settings.clusterwide,
            namespaces=settings.namespaces,
            liveness_endpoint=liveness,
        )
    )
