"""Two local clusters share one machine without clashing, and stopping one leaves nothing behind."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from tests.support import cluster as cluster_support
from tests.support.cluster import Cluster, processes

pytestmark = pytest.mark.cluster


@pytest.mark.skipif(
    bool(os.environ.get(cluster_support.E2E_KUBECONFIG_ENV)),
    reason="runs against an external cluster: nothing is started locally",
)
def test_second_cluster_gets_its_own_ports_and_stops_every_process_it_started(
    cluster: Cluster,
) -> None:
    # Only etcd + kube-apiserver: enough to prove the ports and the cleanup, at a third of the cost.
    with cluster_support.running_cluster(full=False) as second:
        assert second.state_dir is not None and cluster.state_dir is not None
        assert urlsplit(second.server).hostname == "127.0.0.1"
        assert urlsplit(second.server).port != urlsplit(cluster.server).port
        assert second.kubectl("get", "--raw", "/readyz").stdout == "ok"
        assert cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"
        # Separate stores: a namespace made in one is absent from the other.
        second.kubectl("create", "namespace", "only-in-second")
        assert cluster.kubectl("get", "namespace", "only-in-second", check=False).returncode != 0
        started = processes.recorded_processes(second.state_dir)
        state = second.state_dir
    assert [name for name, _, _ in started] == ["etcd", "kube-apiserver"]
    assert not any(processes.alive(pid, ticks) for _, pid, ticks in started)
    assert not state.exists()


@pytest.mark.skipif(
    bool(os.environ.get(cluster_support.E2E_KUBECONFIG_ENV)),
    reason="runs against an external cluster: nothing is started locally",
)
def test_every_component_listens_on_loopback_only(cluster: Cluster) -> None:
    assert cluster.state_dir is not None
    pids = {pid for _, pid, _ in processes.recorded_processes(cluster.state_dir)}
    listeners = processes.listening_addresses(pids)
    assert listeners, "no listening sockets found for the cluster's processes"
    assert {host for host, _port in listeners} == {"127.0.0.1"}


@pytest.mark.skipif(
    bool(os.environ.get(cluster_support.E2E_KUBECONFIG_ENV)),
    reason="runs against an external cluster: nothing is started locally",
)
def test_port_taken_between_pick_and_bind_is_retried_with_a_new_port(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run may grab a port after we picked it: the component is restarted elsewhere."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken])
        real_free_port = processes.free_port
        monkeypatch.setattr(processes, "free_port", lambda: next(picks, None) or real_free_port())
        with cluster_support.running_cluster(full=False) as second:
            assert second.state_dir is not None
            names = [name for name, _, _ in processes.recorded_processes(second.state_dir)]
            etcd_log = (second.state_dir / "logs" / "etcd.log").read_text()
            assert second.kubectl("get", "--raw", "/readyz").stdout == "ok"
    assert names == ["etcd", "etcd", "kube-apiserver"], "the first etcd must have failed"
    assert "address already in use" in etcd_log
