"""Shared by the real-node tests: a namespace on the node cluster and a python3 image on the node.

`node_cluster` itself comes from tests/conftest.py (one per session, one per machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import skips
from tests.support.cluster import Cluster, node
from tests.support.cluster.fixtures import fresh_namespace

IMAGE_CACHE = Path(
    os.environ.get("MODELDEPLOY_IMAGE_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "modeldeploy" / "images"
)


STOPS_ITS_OWN = "test_stop_leaves_no_process_mount_netns_bridge_chain_or_cgroup"


@pytest.fixture
def node_namespace(node_cluster: Cluster) -> Iterator[str]:
    """A fresh namespace on the node cluster, ready for pods (its default ServiceAccount made)."""
    yield from fresh_namespace(node_cluster, "n")


@pytest.fixture(scope="session")
def python_image(node_cluster: Cluster) -> str:
    """The ref of hack/image/build.sh's Debian base image (python3.11), imported into the node."""
    bases = sorted(IMAGE_CACHE.glob("base-*/base.oci.tar"), key=lambda p: p.stat().st_mtime)
    if not bases:
        skips.cannot_run(
            "base image not built: run hack/image/build.sh (it makes the Debian base first)"
        )
    assert node_cluster.state_dir is not None
    (ref,) = node.load_images(node_cluster.state_dir, (bases[-1],))
    return ref


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The test that starts and stops its own node cluster runs first, before the session's
    `node_cluster` holds the machine's one node."""
    first = [i for i in items if i.name == STOPS_ITS_OWN]
    items[:] = first + [i for i in items if i not in first]
