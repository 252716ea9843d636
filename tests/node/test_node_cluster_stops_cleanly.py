"""Stopping a node cluster undoes everything it did to the host, and only one runs per machine.

It starts its own node cluster, so it must run while the session's `node_cluster` is not
running: tests/node/conftest.py moves it to the front of the session.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cluster import (
    containerd,
    dns,
    fixtures,
    hostnet,
    leftovers,
    lifecycle,
    node,
    processes,
)
from tests.support.cluster.errors import ClusterError
from tests.support.cluster.polling import eventually

pytestmark = pytest.mark.node


def _sysctls() -> dict[str, str]:
    names = (*hostnet.SYSCTLS, *hostnet.KUBELET_TUNED)
    return {n: (Path("/proc/sys") / n).read_text().strip() for n in names}


def _pause_pod(ref: str) -> str:
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
        "spec": {"containers": [{"name": "sleeper", "image": ref, "imagePullPolicy": "Never",
                                 "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
                 "volumes": [{"name": "scratch", "emptyDir": {"medium": "Memory"}}]},
    }  # fmt: skip
    return json.dumps(pod)


def test_stop_leaves_no_process_mount_netns_bridge_chain_or_cgroup() -> None:
    fixtures.skip_unless_node_can_run()
    # tests/node/conftest.py runs this test before the session's node starts; a claim left by a
    # crashed run is cleaned up by the cluster code, only a live node is in the way.
    if (running := node.running_elsewhere()) is not None:
        pytest.fail(f"a node cluster already runs here ({running}); this test starts its own")
    sysctls_before, netns_before = _sysctls(), leftovers.cni_netns()
    with lifecycle.running_cluster(node=node.RealNode()) as cluster:
        assert cluster.state_dir is not None
        state = cluster.state_dir
        pause = node.pause_archive()
        assert pause is not None
        cluster.kubectl("apply", "-f", "-", stdin=_pause_pod(containerd.archive_image(pause)[0]))
        eventually(
            lambda: cluster.kubectl_json("get", "pod", "sleeper")["status"].get("phase"),
            lambda phase: phase == "Running", what="pod Running", timeout=60,
        )  # fmt: skip
        started = processes.recorded_processes(state)
        assert dns.NAME in {name for name, _, _ in started}
        runtime_pids = containerd.recorded_pids(node.node_dir(state))
        assert len(runtime_pids) >= 3, runtime_pids  # the pod's shim, its sandbox, its container
        assert leftovers.mounts_under((state,)), "kubelet mounted nothing?"
        assert leftovers.cni_netns() - netns_before
    assert not any(processes.alive(pid, ticks) for _, pid, ticks in started)
    assert not [pid for pid in runtime_pids if Path(f"/proc/{pid}").exists()]
    assert not leftovers.mounts_under((state, containerd.root_dir()))
    assert leftovers.cni_netns() == netns_before
    assert not hostnet.bridge_exists()
    assert hostnet.our_chains_left() == []
    assert leftovers.kubepods_cgroups() == []
    assert _sysctls() == sysctls_before
    assert not state.exists()
    assert not node.CLAIM.exists()


def test_a_second_node_cluster_is_refused_naming_the_running_one(
    node_cluster: lifecycle.Cluster,
) -> None:
    assert node_cluster.state_dir is not None and node_cluster.bin_dir is not None
    state = lifecycle.new_state_dir()
    try:
        with pytest.raises(ClusterError, match=str(node_cluster.state_dir)):
            lifecycle.start(state, node_cluster.bin_dir, node=node.RealNode())
        assert hostnet.bridge_exists()  # the running cluster's is untouched
        assert node_cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"
    finally:
        lifecycle.stop_processes(state)
        shutil.rmtree(state)
