"""Start and stop a whole cluster; the `Cluster` handle tests drive it through."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support.cluster import (
    components,
    hostnet,
    kubelet,
    leftovers,
    pki,
    probes,
    processes,
    storage,
    tools,
)
from tests.support.cluster import node as _node
from tests.support.cluster.errors import ClusterError
from tests.support.cluster.launcher import Launcher
from tests.support.cluster.node import RealNode

ArgvBuilder = Callable[[Path, Path, int], list[str]]  # (bin_dir, state, port) -> argv
STATE_PREFIX = "modeldeploy-cluster-"
IDENTITIES = ("admin", "kube-controller-manager", "kube-scheduler", "kwok", "coredns")
NODE_IDENTITIES = ("kubelet", "kube-proxy")


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A running cluster: its admin kubeconfig, API server URL and the tools that drive it."""

    kubeconfig: Path
    server: str
    bin_dir: Path | None
    state_dir: Path | None
    # A real node (start(node=...)): the address pods reach the host on (bind a host server
    # there for pods to reach it), the node's name, and the default StorageClass.
    pod_gateway: str | None = None
    node_name: str | None = None
    storage_class: str | None = None

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; with check, a failure raises with kubectl's stderr."""
        exe = str(self.bin_dir / "kubectl") if self.bin_dir else shutil.which("kubectl")
        if exe is None:
            raise ClusterError("kubectl not found: run hack/build-tools.sh or put it on PATH")
        argv = [exe, f"--kubeconfig={self.kubeconfig}", *args]
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def kubectl_json(self, *args: str) -> Any:
        """Run kubectl with -o json and return the parsed document."""
        return json.loads(self.kubectl(*args, "-o", "json").stdout)


def _all_nodes_ready(cluster: Cluster, names: set[str]) -> Callable[[], bool]:
    def ready() -> bool:
        done = cluster.kubectl("get", "nodes", "-o", "json", check=False)
        if done.returncode != 0:
            return False
        ready_names = {
            n["metadata"]["name"]
            for n in json.loads(done.stdout)["items"]
            for c in n.get("status", {}).get("conditions", [])
            if c["type"] == "Ready" and c["status"] == "True"
        }
        return names <= ready_names

    return ready


def _default_service_account(cluster: Cluster) -> Callable[[], bool]:
    """True once the controller-manager has made `default` SA: pods are admitted only then."""

    def ready() -> bool:
        done = cluster.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
        return done.returncode == 0

    return ready


def node_manifests() -> list[Path]:
    """The simulated nodes (tests/support/nodes/*.yaml), each named after its file."""
    return sorted(tools.NODES_DIR.glob("*.yaml"))


def _start_control_plane(run: Launcher, *, host: str, node_mode: bool) -> str:
    """etcd, then kube-apiserver on top of it (on HOST); returns the API server URL."""
    state, bin_dir = run.state, run.bin_dir
    etcd_port, _peer_port = run.start(
        "etcd", lambda p: components.etcd_argv(bin_dir, state, p), ports=2,
        url_for=lambda p: f"http://127.0.0.1:{p[0]}/health", context=probes.insecure_context(),
    )  # fmt: skip
    (port,) = run.start(
        "kube-apiserver",
        lambda p: components.apiserver_argv(bin_dir, state, etcd_port, p[0], host=host,
                                            node=node_mode),
        ports=1, url_for=lambda p: f"https://{host}:{p[0]}/readyz",
        context=probes.admin_context(state / "pki"),
    )  # fmt: skip
    return f"https://{host}:{port}"


def _start_daemons(run: Launcher, *, kwok: bool) -> None:
    """Controller-manager, scheduler and (without a real node) kwok, each waited for on its own
    /healthz."""
    daemons: list[tuple[str, ArgvBuilder, str]] = [
        ("kube-controller-manager", components.controller_manager_argv, "https"),
        ("kube-scheduler", components.scheduler_argv, "https"),
    ]
    if kwok:
        daemons.append(("kwok", components.kwok_argv, "http"))
    for name, argv, scheme in daemons:

        def argv_for(
            p: list[int], argv: Callable[[Path, Path, int], list[str]] = argv
        ) -> list[str]:
            return argv(run.bin_dir, run.state, p[0])

        def url_for(p: list[int], scheme: str = scheme) -> str:
            return f"{scheme}://127.0.0.1:{p[0]}/healthz"

        run.start(name, argv_for, ports=1, url_for=url_for, context=probes.insecure_context())


def start(
    state: Path, bin_dir: Path, *, full: bool = True, die_with_parent: bool = False,
    node: RealNode | None = None,
) -> Cluster:  # fmt: skip
    """Start etcd and kube-apiserver, and with `full` the rest and the simulated nodes.

    With `node`, a real node instead of the simulated ones (implies `full`; root only, one per
    machine): the API server binds the pod gateway 10.213.0.1, and when this returns the node is
    Ready and the default ServiceAccount exists. On failure the caller stops what was recorded
    (see `running_cluster`, `stop`).
    """
    run = Launcher(state=state, bin_dir=bin_dir, die_with_parent=die_with_parent)
    if node is not None:
        _node.prepare_host(state)  # the bridge first: the API server binds its address
    pki.make_pki(state / "pki", node=node is not None)
    host = hostnet.GATEWAY if node is not None else "127.0.0.1"
    server = _start_control_plane(run, host=host, node_mode=node is not None)
    for user in (*IDENTITIES, *(NODE_IDENTITIES if node is not None else ())):
        pki.write_kubeconfig(state / f"{user}.kubeconfig", server=server, pki=state / "pki",
                             user=user)  # fmt: skip
    cluster = Cluster(
        kubeconfig=state / "admin.kubeconfig", server=server, bin_dir=bin_dir, state_dir=state
    )
    if not full and node is None:
        return cluster
    _start_daemons(run, kwok=node is None)
    if node is not None:
        _node.start(run, node)
        cluster = dataclasses.replace(
            cluster, pod_gateway=hostnet.GATEWAY, node_name=kubelet.NODE_NAME,
            storage_class=storage.STORAGE_CLASS,
        )  # fmt: skip
    else:
        nodes = node_manifests()
        cluster.kubectl("apply", *(f"--filename={n}" for n in nodes))
        ready = _all_nodes_ready(cluster, {n.stem for n in nodes})
        run.wait_for("simulated nodes Ready", ready)
    sa = _default_service_account(cluster)
    run.wait_for("default ServiceAccount", sa)
    return cluster


def state_base() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())


def pointer() -> Path:
    """Where `up` records its state dir, so `down`/`status`/`env` (and the demo) need none."""
    return state_base() / f"modeldeploy-cluster-{os.getuid()}.current"


def recorded_state_dir() -> Path | None:
    """The state dir of the cluster `up` started and `down` has not stopped yet, if any."""
    if not pointer().exists():
        return None
    state = Path(pointer().read_text().strip())
    return state if state.is_dir() else None


def attach(state: Path) -> Cluster:
    """A handle on a cluster started earlier by `up` (its processes keep running)."""
    real_node = _node.node_dir(state).is_dir()
    bin_dir = tools.find_bin_dir(node=real_node)
    probe = Cluster(kubeconfig=state / "admin.kubeconfig", server="", bin_dir=bin_dir,
                    state_dir=state)  # fmt: skip
    jsonpath = "jsonpath={.clusters[0].cluster.server}"
    server = probe.kubectl("config", "view", "--minify", "-o", jsonpath).stdout.strip()
    cluster = dataclasses.replace(probe, server=server)
    if real_node:
        cluster = dataclasses.replace(
            cluster, pod_gateway=hostnet.GATEWAY, node_name=kubelet.NODE_NAME,
            storage_class=storage.STORAGE_CLASS,
        )  # fmt: skip
    return cluster


def new_state_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix=STATE_PREFIX, dir=state_base()))


def stop(state: Path) -> None:
    """Stop every process of the run by PID and remove its state dir.

    Refuses any directory not made by `new_state_dir`: a mistyped --state-dir must never be
    deleted.
    """
    if not state.name.startswith(STATE_PREFIX):
        raise ClusterError(f"not a cluster state dir (name must start {STATE_PREFIX}): {state}")
    stop_processes(state)
    shutil.rmtree(state, ignore_errors=True)


def stop_processes(state: Path) -> None:
    """Stop a real node (undoing its host changes) and then every other recorded process.

    Raises, keeping the state dir, if something could not be cleaned: above all a mount left
    under it, which removing the dir would reach through.
    """
    problems = _node.stop(state)
    if (state / "pids").is_dir():
        processes.stop_processes(state)
    if mounted := leftovers.mounts_under((state,)):
        problems.append(f"still mounted under {state}: {mounted}")
    if problems:
        raise ClusterError("real node not fully cleaned up: " + "; ".join(problems))


@contextlib.contextmanager
def running_cluster(
    *, full: bool = True, keep_state: bool = False, node: RealNode | None = None
) -> Iterator[Cluster]:
    """A cluster for the duration of the block: MODELDEPLOY_E2E_KUBECONFIG's, or a fresh one.

    `full=False` starts only etcd and kube-apiserver (enough for API-only checks, much cheaper).
    `node` starts a real node instead of the simulated ones (never an external cluster).
    With `keep_state` the state dir (logs) survives for debugging; processes are stopped anyway.
    """
    if node is None and (external := os.environ.get(tools.E2E_KUBECONFIG_ENV)):
        yield external_cluster(Path(external))
        return
    bin_dir = tools.find_bin_dir(node=node is not None)
    if bin_dir is None:
        raise ClusterError(f"Kubernetes test binaries not built: run {_build_hint(node)}")
    state = new_state_dir()
    try:
        cluster = start(state, bin_dir, full=full, die_with_parent=True, node=node)
    except BaseException:
        stop_processes(state)  # the state dir stays: its logs explain the failure
        raise
    try:
        yield cluster
    finally:
        stop_processes(state)
        if not keep_state:
            shutil.rmtree(state, ignore_errors=True)


def _build_hint(node: RealNode | None) -> str:
    if node is None:
        return "hack/build-tools.sh"
    return f'MODELDEPLOY_TOOLS="{tools.NODE_TOOLS}" hack/build-tools.sh'


def external_cluster(kubeconfig: Path) -> Cluster:
    """A cluster someone else runs (kind, a real one): nothing is started or stopped."""
    bin_dir = tools.find_bin_dir()
    probe = Cluster(kubeconfig=kubeconfig, server="", bin_dir=bin_dir, state_dir=None)
    jsonpath = "jsonpath={.clusters[0].cluster.server}"
    server = probe.kubectl("config", "view", "--minify", "-o", jsonpath).stdout.strip()
    return dataclasses.replace(probe, server=server)
