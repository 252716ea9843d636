"""pytest fixtures for tests that need a real Kubernetes API (import them in a conftest.py).

One control plane per session: starting it costs ~10 s, each test then works in its own
namespace. Tests using `cluster` skip, with the reason, where the binaries are not built, so the
unit suite runs anywhere. With MODELDEPLOY_E2E_KUBECONFIG set they run against that cluster
instead (e.g. kind, see hack/kind/e2e.sh).

`node_cluster` (session) is a second, separate cluster with a real node (kubelet, containerd,
kube-proxy; see tests.support.cluster.node), importing the OCI archives named in
MODELDEPLOY_NODE_IMAGES (os.pathsep-separated). It skips with the reason where a real node cannot
run (not root, no containerd, tools or pause image not built); under CI that skip is a failure
(tests/support/skips.py).

Import them in ONE conftest.py above every user (a session fixture defined in two conftests is
two fixtures, hence two clusters):
`from tests.support.cluster.fixtures import cluster, namespace, node_cluster`
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import skips
from tests.support.cluster import node
from tests.support.cluster.lifecycle import Cluster, running_cluster
from tests.support.cluster.polling import eventually
from tests.support.cluster.tools import unavailable_reason

NODE_IMAGES_ENV = "MODELDEPLOY_NODE_IMAGES"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    reason = unavailable_reason()
    if reason is not None:
        skips.cannot_run(reason)
    with running_cluster() as running:
        yield running


def skip_unless_node_can_run() -> None:
    """Skip with the reason where a real node cannot run here (a failure under CI)."""
    reason = unavailable_reason() or node.unavailable_reason()
    if reason is not None:
        skips.cannot_run(reason)


@pytest.fixture(scope="session")
def node_cluster() -> Iterator[Cluster]:
    skip_unless_node_can_run()
    images = tuple(Path(p) for p in os.environ.get(NODE_IMAGES_ENV, "").split(os.pathsep) if p)
    with running_cluster(node=node.RealNode(images=images)) as running:
        yield running


def fresh_namespace(cluster: Cluster, prefix: str) -> Iterator[str]:
    """Create a uniquely named namespace, yield its name once usable, then delete it.

    Usable once the controller-manager made its `default` ServiceAccount: until then the API
    server refuses pods created directly in it.
    """
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    eventually(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False),
        lambda done: done.returncode == 0,
        what=f"ServiceAccount default in namespace {name}",
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects."""
    yield from fresh_namespace(cluster, "t")
