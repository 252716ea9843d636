"""Start and stop a whole cluster; the `Cluster` handle tests drive it through."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support.cluster import components, pki, probes, processes, tools
from tests.support.cluster.errors import ClusterError

Watch = dict[str, subprocess.Popen[bytes]]
ArgvBuilder = Callable[[Path, Path, int], list[str]]  # (bin_dir, state, port) -> argv
STATE_PREFIX = "modeldeploy-cluster-"
IDENTITIES = ("admin", "kube-controller-manager", "kube-scheduler", "kwok")


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A running cluster: its admin kubeconfig, API server URL and the tools that drive it."""

    kubeconfig: Path
    server: str
    bin_dir: Path | None
    state_dir: Path | None

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


@dataclasses.dataclass
class _Launcher:
    """What every component start shares: the run's state dir, binaries and watched processes."""

    state: Path
    bin_dir: Path
    die_with_parent: bool
    watch: Watch = dataclasses.field(default_factory=dict)

    def start(
        self, name: str, argv_for: Callable[[list[int]], list[str]], *, ports: int,
        url_for: Callable[[list[int]], str], context: ssl.SSLContext,
    ) -> list[int]:  # fmt: skip
        """Start NAME on fresh ports and wait until url_for(ports) answers 200."""

        def ready(chosen: list[int]) -> Callable[[], bool]:
            url = url_for(chosen)
            return lambda: probes.https_ok(url, context)

        return processes.start_listening(
            self.state, name, argv_for, ports=ports, ready_for=ready, watch=self.watch,
            die_with_parent=self.die_with_parent,
        )  # fmt: skip


def _start_control_plane(run: _Launcher) -> str:
    """etcd, then kube-apiserver on top of it; returns the API server URL."""
    state, bin_dir = run.state, run.bin_dir
    etcd_port, _peer_port = run.start(
        "etcd", lambda p: components.etcd_argv(bin_dir, state, p), ports=2,
        url_for=lambda p: f"http://127.0.0.1:{p[0]}/health", context=probes.insecure_context(),
    )  # fmt: skip
    (port,) = run.start(
        "kube-apiserver", lambda p: components.apiserver_argv(bin_dir, state, etcd_port, p[0]),
        ports=1, url_for=lambda p: f"https://127.0.0.1:{p[0]}/readyz",
        context=probes.admin_context(state / "pki"),
    )  # fmt: skip
    return f"https://127.0.0.1:{port}"


def _start_daemons(run: _Launcher) -> None:
    """Controller-manager, scheduler and kwok, each waited for on its own /healthz."""
    daemons: list[tuple[str, ArgvBuilder, str]] = [
        ("kube-controller-manager", components.controller_manager_argv, "https"),
        ("kube-scheduler", components.scheduler_argv, "https"),
        ("kwok", components.kwok_argv, "http"),
    ]
    for name, argv, scheme in daemons:

        def argv_for(
            p: list[int], argv: Callable[[Path, Path, int], list[str]] = argv
        ) -> list[str]:
            return argv(run.bin_dir, run.state, p[0])

        def url_for(p: list[int], scheme: str = scheme) -> str:
            return f"{scheme}://127.0.0.1:{p[0]}/healthz"

        run.start(name, argv_for, ports=1, url_for=url_for, context=probes.insecure_context())


def start(
    state: Path, bin_dir: Path, *, full: bool = True, die_with_parent: bool = False
) -> Cluster:
    """Start etcd and kube-apiserver, and with `full` the rest and the simulated nodes.

    On failure the caller stops what was recorded (see `running_cluster`).
    """
    run = _Launcher(state=state, bin_dir=bin_dir, die_with_parent=die_with_parent)
    pki.make_pki(state / "pki")
    server = _start_control_plane(run)
    for user in IDENTITIES:
        pki.write_kubeconfig(state / f"{user}.kubeconfig", server=server, pki=state / "pki",
                             user=user)  # fmt: skip
    cluster = Cluster(
        kubeconfig=state / "admin.kubeconfig", server=server, bin_dir=bin_dir, state_dir=state
    )
    if not full:
        return cluster
    _start_daemons(run)
    nodes = node_manifests()
    cluster.kubectl("apply", *(f"--filename={n}" for n in nodes))
    ready = _all_nodes_ready(cluster, {n.stem for n in nodes})
    processes.wait_for("simulated nodes Ready", ready, state=state, watch=run.watch)
    sa = _default_service_account(cluster)
    processes.wait_for("default ServiceAccount", sa, state=state, watch=run.watch)
    return cluster


def state_base() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())


def new_state_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix=STATE_PREFIX, dir=state_base()))


def stop(state: Path) -> None:
    """Stop every process of the run by PID and remove its state dir.

    Refuses any directory not made by `new_state_dir`: a mistyped --state-dir must never be
    deleted.
    """
    if not state.name.startswith(STATE_PREFIX):
        raise ClusterError(f"not a cluster state dir (name must start {STATE_PREFIX}): {state}")
    if (state / "pids").is_dir():
        processes.stop_processes(state)
    shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(*, full: bool = True, keep_state: bool = False) -> Iterator[Cluster]:
    """A cluster for the duration of the block: MODELDEPLOY_E2E_KUBECONFIG's, or a fresh one.

    `full=False` starts only etcd and kube-apiserver (enough for API-only checks, much cheaper).
    With `keep_state` the state dir (logs) survives for debugging; processes are stopped anyway.
    """
    if external := os.environ.get(tools.E2E_KUBECONFIG_ENV):
        yield external_cluster(Path(external))
        return
    bin_dir = tools.find_bin_dir()
    if bin_dir is None:
        raise ClusterError("Kubernetes test binaries not built: run hack/build-tools.sh")
    state = new_state_dir()
    try:
        cluster = start(state, bin_dir, full=full, die_with_parent=True)
    except BaseException:
        processes.stop_processes(state)  # the state dir stays: its logs explain the failure
        raise
    try:
        yield cluster
    finally:
        processes.stop_processes(state)
        if not keep_state:
            shutil.rmtree(state, ignore_errors=True)


def external_cluster(kubeconfig: Path) -> Cluster:
    """A cluster someone else runs (kind, a real one): nothing is started or stopped."""
    bin_dir = tools.find_bin_dir()
    probe = Cluster(kubeconfig=kubeconfig, server="", bin_dir=bin_dir, state_dir=None)
    jsonpath = "jsonpath={.clusters[0].cluster.server}"
    server = probe.kubectl("config", "view", "--minify", "-o", jsonpath).stdout.strip()
    return dataclasses.replace(probe, server=server)
