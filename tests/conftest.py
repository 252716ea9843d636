"""Fixtures shared by every test folder.

The local control plane is a session fixture: declared once here, so the cluster and
e2e suites (and the chart's RBAC test) share one cluster per pytest run instead of
starting one per folder.
"""

from __future__ import annotations

from tests.support.cluster.fixtures import cluster, namespace, node_cluster

__all__ = ["cluster", "namespace", "node_cluster"]
