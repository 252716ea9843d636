"""Fixtures of the end-to-end suite: the real control plane, the CRD, a loopback hub, the operator.

`cluster` and `namespace` come from tests/conftest.py (one control plane per pytest run,
skipped cleanly, with the reason, when the Kubernetes binaries are not built). kwok
simulates the kubelets: pods never run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import helpers
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer, safetensors_bytes

TINY_WEIGHTS = safetensors_bytes({"w": ("F32", (256, 256))})
HUGE_BYTES = 200 * helpers.GIB


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> Path:
    for path in helpers.CRD_FILES:
        cluster.kubectl("apply", "--server-side", "--filename", str(path))
    for name in ("modeldeployments.modeldeploy.io", "modelcaches.modeldeploy.io"):
        helpers.wait_for(
            lambda name=name: helpers.condition(  # type: ignore[misc]
                cluster.kubectl_json("get", "crd", name), "Established"
            ),
            lambda cond: bool(cond) and cond["status"] == "True",
            what=f"the CRD {name} Established",
            timeout=30,
        )
    return helpers.CRD_FILE


@pytest.fixture(scope="session")
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        server.add_repo("acme/tiny", {"config.json": b"{}", "model.safetensors": TINY_WEIGHTS})
        server.add_repo(
            "acme/huge",
            {"config.json": b"{}", "model.safetensors": helpers.huge_safetensors(HUGE_BYTES)},
        )
        yield server


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, crd: Path, hub: HubServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[helpers.OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = helpers.OperatorProcess(cluster, hub_endpoint=hub.endpoint, log_path=log)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def running_operator(
    operator: helpers.OperatorProcess, request: pytest.FixtureRequest
) -> Iterator[helpers.OperatorProcess]:
    """The session's operator, restarted if a previous test stopped it; its log on failure."""
    if not operator.alive():
        operator.start()
    yield operator
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- operator log (tail) ---\n{operator.log_tail()}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
