"""A real node joined to the local control plane: containerd + runc + bridge CNI, kubelet and
kube-proxy (Kubernetes 1.35) and the cluster DNS (CoreDNS), instead of kwok's simulated nodes.

Why: simulated nodes prove the control plane, not that kubelet's probes, volumes and Services
work with our image. One node cluster per machine (a bridge, iptables chains and sysctls are
machine-wide); `claim` refuses a second one and cleans up after a crashed one. Everything started
is stopped by PID and everything changed on the host is undone by `stop`, in order: kube-proxy
(and its chains), kubelet, the cluster DNS, the containers and shims, containerd, our chains,
sysctls, mounts, network namespaces, the bridge, the kubepods cgroups.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.cluster import (
    components,
    containerd,
    dns,
    hostnet,
    kubelet,
    leftovers,
    probes,
    processes,
    storage,
    tools,
)
from tests.support.cluster.errors import ClusterError
from tests.support.cluster.launcher import Launcher

CLAIM = Path("/run/modeldeploy-node.claim")
PAUSE_SCRIPT = tools.REPO / "hack" / "node" / "build-pause.sh"
COMMANDS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip", "conntrack")
CNI_PLUGINS = ("bridge", "host-local", "loopback")
BUILD = "hack/build-tools.sh"


@dataclasses.dataclass(frozen=True)
class RealNode:
    """Start a real node. `images`: OCI archives to import besides the pause image (their refs
    come from the archives' annotations; pods use them with imagePullPolicy IfNotPresent)."""

    images: tuple[Path, ...] = ()


def node_dir(state: Path) -> Path:
    return state / "node"


def pause_archive() -> Path | None:
    done = subprocess.run([str(PAUSE_SCRIPT), "--print"], capture_output=True, text=True,
                          check=False, timeout=60)  # fmt: skip
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def unavailable_reason() -> str | None:
    """Why a real node cannot run here (for pytest.skip), or None when it can."""
    if os.geteuid() != 0:
        return "a real node needs root (containerd, kubelet, iptables, a bridge)"
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    missing += [f"/usr/lib/cni/{p}" for p in CNI_PLUGINS if not Path(f"/usr/lib/cni/{p}").exists()]
    if missing:
        return f"missing for a real node: {', '.join(missing)} (hack/system-deps.sh containerd ...)"
    if not Path("/proc/sys/net/bridge").is_dir():
        return "br_netfilter not loaded (/proc/sys/net/bridge missing): modprobe br_netfilter"
    if tools.find_bin_dir(node=True) is None:
        built = f'MODELDEPLOY_TOOLS="{tools.NODE_TOOLS}" {BUILD}'
        return f"kubelet, kube-proxy or coredns not built: {built}"
    if pause_archive() is None:
        return "pause image not built: run hack/node/build-pause.sh"
    return None


def running_elsewhere() -> Path | None:
    """The state dir of the node cluster running on this machine, if one is."""
    if not CLAIM.exists():
        return None
    earlier = Path(CLAIM.read_text().strip())
    if (earlier / "pids").is_dir() and any(
        processes.alive(pid, ticks) for _n, pid, ticks in processes.recorded_processes(earlier)
    ):
        return earlier
    return None


def refuse_if_running() -> None:
    if (earlier := running_elsewhere()) is not None:
        raise ClusterError(
            f"a node cluster already runs on this machine: {earlier} "
            f"(stop it: hack/local-cluster.sh down --state-dir {earlier})"
        )


def claim(state: Path) -> None:
    """Make this run the machine's one node cluster; clean up after a crashed earlier one."""
    refuse_if_running()
    if CLAIM.exists():
        stop(Path(CLAIM.read_text().strip()))  # its processes are gone: undo its host changes
        CLAIM.unlink(missing_ok=True)
    elif hostnet.bridge_exists():
        raise ClusterError(f"bridge {hostnet.BRIDGE} exists but no node cluster is recorded in "
                           f"{CLAIM}; remove it: ip link del {hostnet.BRIDGE}")  # fmt: skip
    try:
        with CLAIM.open("x") as f:
            f.write(f"{state}\n")
    except FileExistsError:
        raise ClusterError(f"another node cluster is starting ({CLAIM})") from None


def prepare_host(state: Path) -> None:
    """Before the API server starts (it binds the gateway address): claim, bridge, chains."""
    claim(state)
    if foreign := hostnet.our_chains_left():
        # Teardown removes every KUBE-*/MODELDEPLOY-* chain: start only where all are ours.
        CLAIM.unlink(missing_ok=True)
        raise ClusterError(
            f"iptables already has chains a real node would create and remove: {foreign[:5]} "
            "(another Kubernetes on this machine?); refusing to start"
        )
    node = node_dir(state)
    node.mkdir()
    (node / "netns-before.json").write_text(json.dumps(sorted(leftovers.cni_netns())))
    hostnet.save_sysctls(node / "sysctls.json")
    hostnet.create_bridge(components.SERVICE_CIDR)
    hostnet.add_chains()


def _containerd_ready(node: Path) -> Callable[[], bool]:
    def ready() -> bool:
        argv = ["ctr", f"--address={containerd.socket(node)}", "version"]
        return subprocess.run(argv, capture_output=True, check=False, timeout=10).returncode == 0

    return ready


def _start_containerd(run: Launcher, node: Path, pause_ref: str) -> None:
    (node / "cni").mkdir(exist_ok=True)
    (node / "cni" / "10-modeldeploy.conflist").write_text(containerd.cni_conflist(node / "ipam"))
    config = node / "containerd.toml"
    config.write_text(containerd.config_toml(node, sandbox_image=pause_ref,
                                             cni_conf_dir=node / "cni"))  # fmt: skip
    containerd.root_dir().mkdir(parents=True, exist_ok=True)
    run.launch("containerd", ["env", *containerd.NO_EGRESS_ENV, "containerd", f"--config={config}"])
    run.wait_for("containerd", _containerd_ready(node))


def _node_ready(run: Launcher) -> Callable[[], bool]:
    kubeconfig = run.state / "admin.kubeconfig"

    def ready() -> bool:
        jsonpath = "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
        argv = [str(run.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", "get", "node",
                kubelet.NODE_NAME, "-o", jsonpath]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        return done.stdout.strip() == "True"

    return ready


def _apply(run: Launcher, manifest: str, what: str) -> None:
    kubectl = [str(run.bin_dir / "kubectl"), f"--kubeconfig={run.state / 'admin.kubeconfig'}"]
    done = subprocess.run([*kubectl, "apply", "-f", "-"], input=manifest, text=True,
                          capture_output=True, check=False, timeout=60)  # fmt: skip
    if done.returncode != 0:
        raise ClusterError(f"creating {what} failed: {done.stderr.strip()}")


def _start_dns(run: Launcher) -> None:
    """The cluster DNS on the gateway's port 53, synced with the API server before kubelet
    starts: every pod's resolv.conf names it (kubelet's clusterDNS)."""
    _apply(run, dns.rbac_manifest(), "the cluster DNS's RBAC")
    dns.start(run, host=hostnet.GATEWAY, port=dns.PORT, kubeconfig=run.state / "coredns.kubeconfig",
              reverse_cidrs=(components.SERVICE_CIDR, hostnet.POD_SUBNET))  # fmt: skip


def start(run: Launcher, node_spec: RealNode) -> None:
    """Cluster DNS, containerd (images imported), kubelet until the node is Ready, kube-proxy,
    storage."""
    state, bin_dir, node = run.state, run.bin_dir, node_dir(run.state)
    (node / "bin-dir").write_text(f"{bin_dir}\n")
    _start_dns(run)
    pause = pause_archive()
    if pause is None:
        raise ClusterError("pause image not built: run hack/node/build-pause.sh")
    pause_ref, _digest = containerd.archive_image(pause)
    _start_containerd(run, node, pause_ref)
    if containerd.remove_leftover_containers(node):
        # CRI loaded the leftovers into its cache at start: restart it with a clean store.
        processes.stop_named(state, ("containerd",))
        run.watch.pop("containerd")
        _start_containerd(run, node, pause_ref)
    containerd.import_images(node, (pause, *node_spec.images))
    run.start(
        "kubelet", lambda p: kubelet.kubelet_argv(bin_dir, state, node, p), ports=2,
        url_for=lambda p: f"http://127.0.0.1:{p[1]}/healthz", context=_plain(),
    )  # fmt: skip
    run.wait_for(f"node {kubelet.NODE_NAME} Ready", _node_ready(run), timeout=120)
    hostnet.apply_sysctls()
    run.start(
        "kube-proxy", lambda p: kubelet.kube_proxy_argv(bin_dir, state, node, p), ports=2,
        url_for=lambda p: f"http://127.0.0.1:{p[0]}/healthz", context=_plain(),
    )  # fmt: skip
    hostnet.wait_for_kube_proxy_jumps()
    hostnet.ensure_jumps_first()
    _apply(run, storage.manifests(node), "the local volumes")


def load_images(state: Path, archives: tuple[Path, ...]) -> list[str]:
    """Import OCI archives into a running node's containerd (skipped when already present);
    returns their refs, for pods with imagePullPolicy IfNotPresent."""
    return containerd.import_images(node_dir(state), archives)


def _plain() -> ssl.SSLContext:
    return probes.insecure_context()


def stop(state: Path) -> list[str]:
    """Stop the node and undo every host change, each step even if an earlier one failed.

    Returns what could not be cleaned (empty when everything is gone).
    """
    node = node_dir(state)
    if not node.is_dir():
        return []
    problems: list[str] = []
    claimed_by = Path(CLAIM.read_text().strip()) if CLAIM.exists() else None
    if claimed_by is not None and claimed_by != state:
        # A stale dir of an earlier run while another node cluster owns the machine: stop only
        # this run's own processes; the bridge, chains, netns and cgroups are the other's.
        for name in ("kube-proxy", "kubelet", dns.NAME, "containerd"):
            with contextlib.suppress(OSError, ClusterError, subprocess.SubprocessError):
                processes.stop_named(state, (name,))
        return [f"host changes belong to the running node cluster {claimed_by}; left alone"]

    def step(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except (OSError, ClusterError, subprocess.SubprocessError) as e:
            problems.append(f"{what}: {e}")

    step("stop kube-proxy", lambda: processes.stop_named(state, ("kube-proxy",)))
    step("kube-proxy --cleanup", lambda: _kube_proxy_cleanup(node))
    step("stop kubelet", lambda: processes.stop_named(state, ("kubelet",)))
    step("stop the cluster DNS", lambda: processes.stop_named(state, (dns.NAME,)))
    if containerd.socket(node).exists():
        step("kill containers", lambda: containerd.kill_tasks(node))
    step("kill shims", lambda: containerd.kill_recorded(node))
    step("stop containerd", lambda: processes.stop_named(state, ("containerd",)))
    step("kill shims", lambda: containerd.kill_recorded(node))
    step("iptables chains", hostnet.remove_chains)
    step("kubelet's iptables chains", hostnet.remove_kube_chains)
    step("sysctls", lambda: hostnet.restore_sysctls(node / "sysctls.json"))
    netns = leftovers.new_netns(_netns_before(node))
    step("network namespaces", lambda: leftovers.remove_netns(netns))
    step("mounts", lambda: leftovers.unmount_all((node, containerd.root_dir())))
    step("pod log links", lambda: leftovers.remove_log_links(node))
    step("bridge", lambda: hostnet.delete_bridge(components.SERVICE_CIDR))
    busy = leftovers.remove_cgroups()
    problems += [f"cgroup still busy: {b}" for b in busy]
    problems += [f"still mounted: {m}" for m in leftovers.mounts_under((node,))]
    problems += [f"iptables chain left: {c}" for c in hostnet.our_chains_left()]
    if not problems and CLAIM.exists() and CLAIM.read_text().strip() == str(state):
        CLAIM.unlink()  # kept while something is left: the next `up` cleans up first
    return problems


def _netns_before(node: Path) -> set[str]:
    with contextlib.suppress(OSError, ValueError):
        return set(json.loads((node / "netns-before.json").read_text()))
    return set()


def _kube_proxy_cleanup(node: Path) -> None:
    bin_file = node / "bin-dir"
    if bin_file.exists():
        exe = Path(bin_file.read_text().strip()) / "kube-proxy"
        subprocess.run([str(exe), "--cleanup"], capture_output=True, check=False, timeout=60)
