"""The operator's log says what each reconcile changed, in one INFO line, and nothing when a
reconcile changed nothing (an idle fleet of 2,000 stays quiet)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from modeldeploy.operator import kube
from modeldeploy.operator.config import Settings
from tests.operator.unit import reconcile_fakes as fakes

SPEC = {"model": {"repo": "acme/tiny", "tokenSecretRef": {"name": "hf", "key": "token"}}}
LOGGER = "modeldeploy.operator.reconciler"


def _echo(client: fakes.FakeKube) -> Any:
    """The index after the watch brought back what was applied (as the API server holds it)."""
    held: dict[str, list[dict[str, Any]]] = {"deployments": [], "services": []}
    for number, obj in enumerate(client.applied, start=1):
        meta = {**obj["metadata"], "generation": 1, "resourceVersion": str(number)}
        held[{"Deployment": "deployments", "Service": "services"}[obj["kind"]]].append(
            {"metadata": meta}
        )
    return fakes.view(**held)


def test_a_reconcile_says_what_it_changed_in_one_line_and_a_no_op_says_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reconciler, client = fakes.make()
    client.secrets[("hf", "token")] = "hf_secret_value"
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    asyncio.run(reconciler.reconcile(fakes.body(SPEC), fakes.view()))
    echoed = fakes.body(SPEC, status=client.patches[0])
    for _ in range(3):
        asyncio.run(reconciler.reconcile(echoed, _echo(client)))
    records = [r for r in caplog.records if r.name == LOGGER]
    assert [r.getMessage() for r in records] == [
        "ml/tiny: applied Deployment tiny, Service tiny, Service tiny-wait; "
        "phase Pending -> Deploying (RuntimesNotReady), status written"
    ]
    assert records[0].levelno == logging.INFO
    assert "hf_secret_value" not in caplog.text


class ServerHoldingItAll(fakes.FakeKube):
    """A FakeKube whose API server holds every object (resourceVersion `HELD`): an apply that
    changes nothing leaves its resourceVersion as it was."""

    async def apply(self, obj: Any) -> kube.Applied:
        self.applied.append(dict(obj))
        return kube.Applied(
            generation=1, resource_version=HELD[f"{obj['metadata']['name']}/{obj['kind']}"]
        )


# The index has "1", "2" and "3": only the Deployment changed.
HELD = {"tiny/Deployment": "7", "tiny/Service": "2", "tiny-wait/Service": "3"}


def test_a_restarted_operator_names_only_what_the_api_server_changed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reconciler, client = fakes.make()
    asyncio.run(reconciler.reconcile(fakes.body(SPEC), fakes.view()))
    echoed, view = fakes.body(SPEC, status=client.patches[0]), _echo(client)
    server, settings = ServerHoldingItAll(), Settings(runtime_image="img:1")
    restarted = fakes.OfflineReconciler(
        settings=settings,
        client=server,  # type: ignore[arg-type]
        reporter=fakes.FakeReporter(),  # type: ignore[arg-type]
    )
    restarted.hub = fakes.OfflineHub(settings=settings, client=server)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger=LOGGER)
    asyncio.run(restarted.reconcile(echoed, view))
    assert [o["kind"] for o in server.applied] == ["Deployment", "Service", "Service"]  # all
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        "ml/tiny: applied Deployment tiny"  # the Services were already as applied
    ]
