"""The real node's host networking: the pod bridge, its routes, sysctls and our iptables chains.

Network rule of these machines: nothing leaves the machine. Pods live on the bridge `mdbr0`
(10.213.0.0/24, gateway 10.213.0.1, the address the API server and host servers bind to); our
chains drop everything a pod sends that is neither for the gateway address nor for another pod
(kube-proxy's DNAT happens before, so Service traffic still passes), and the bridge forwards nothing
to or from any other interface. Every change is undone on stop; sysctls return to the values
recorded before start.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import time
from pathlib import Path

from tests.support.cluster.errors import ClusterError

BRIDGE = "mdbr0"
POD_SUBNET = "10.213.0.0/24"
GATEWAY = "10.213.0.1"
FORWARD_CHAIN = "MODELDEPLOY-NODE"
INPUT_CHAIN = "MODELDEPLOY-NODE-IN"
# Forwarding between pods through a Service needs both; kubelet sets the kernel tunables it
# expects (protectKernelDefaults: false). All of them are restored on stop.
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}
KUBELET_TUNED = (
    "vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
)  # fmt: skip


def run(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if check and done.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def create_bridge(service_cidr: str) -> None:
    """mdbr0 with the gateway address, up, IPv6 off; host -> ClusterIP leaves from the gateway."""
    if bridge_exists():
        raise ClusterError(f"bridge {BRIDGE} already exists: another node cluster runs here?")
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6").write_text("1\n")
    run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    run("ip", "route", "add", service_cidr, "dev", BRIDGE, "src", GATEWAY)


def delete_bridge(service_cidr: str) -> None:
    run("ip", "route", "del", service_cidr, "dev", BRIDGE, check=False)
    if bridge_exists():
        run("ip", "link", "del", BRIDGE)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def save_sysctls(record: Path) -> None:
    """Record every value we (or kubelet) may change, once: a restart must not record ours."""
    if record.exists():
        return
    names = (*SYSCTLS, *KUBELET_TUNED)
    values = {n: _sysctl_path(n).read_text().strip() for n in names if _sysctl_path(n).exists()}
    record.write_text(json.dumps(values, indent=2) + "\n")


def apply_sysctls() -> None:
    for name, value in SYSCTLS.items():
        path = _sysctl_path(name)
        if not path.exists():
            raise ClusterError(f"{path} missing (br_netfilter not loaded? `modprobe br_netfilter`)")
        path.write_text(f"{value}\n")


def restore_sysctls(record: Path) -> None:
    if not record.exists():
        return
    for name, value in json.loads(record.read_text()).items():
        with contextlib.suppress(OSError):
            if _sysctl_path(name).read_text().strip() != value:
                _sysctl_path(name).write_text(f"{value}\n")
    record.unlink()


def _jumps() -> list[tuple[str, list[str]]]:
    return [
        ("FORWARD", ["-i", BRIDGE, "-j", FORWARD_CHAIN]),
        ("FORWARD", ["-o", BRIDGE, "-j", FORWARD_CHAIN]),
        ("INPUT", ["-i", BRIDGE, "-j", INPUT_CHAIN]),
    ]


def add_chains() -> None:
    """Our chains, jumped to first from FORWARD and INPUT for traffic on the bridge."""
    remove_chains()
    for chain in (FORWARD_CHAIN, INPUT_CHAIN):
        run("iptables", "-w", "-N", chain)
    keep = "pod to pod (Service traffic after kube-proxy's DNAT included)"
    run("iptables", "-w", "-A", FORWARD_CHAIN, "-i", BRIDGE, "-o", BRIDGE, "-s", POD_SUBNET,
        "-d", POD_SUBNET, "-m", "comment", "--comment", keep, "-j", "RETURN")  # fmt: skip
    run("iptables", "-w", "-A", FORWARD_CHAIN, "-m", "comment", "--comment",
        "nothing leaves the machine", "-j", "DROP")  # fmt: skip
    run("iptables", "-w", "-A", INPUT_CHAIN, "-d", GATEWAY, "-m", "comment", "--comment",
        "pods reach the host only on the gateway address", "-j", "RETURN")  # fmt: skip
    run("iptables", "-w", "-A", INPUT_CHAIN, "-j", "DROP")
    ensure_jumps_first()


def ensure_jumps_first(*, attempts: int = 10) -> None:
    """Our jumps at the top of FORWARD/INPUT: kube-proxy's ACCEPT rules must not come first.

    kube-proxy inserts its own jumps at the top when it first finds them missing, which can
    happen while we reorder (its first syncs race with us): reorder again until ours hold."""
    forward: list[str] = []
    for _ in range(attempts):
        for parent, rule in reversed(_jumps()):
            while run("iptables", "-w", "-D", parent, *rule, check=False).returncode == 0:
                pass
            run("iptables", "-w", "-I", parent, "1", *rule)
        forward = run("iptables", "-w", "-S", "FORWARD").stdout.splitlines()
        if all(f"-j {FORWARD_CHAIN}" in line for line in forward[1:3]):
            return
        time.sleep(0.5)
    raise ClusterError(f"our jumps are not first in FORWARD: {forward[:4]}")


def wait_for_kube_proxy_jumps(timeout: float = 60) -> None:
    """Until kube-proxy's first sync put its jumps into FORWARD (it inserts them at the top, so
    ours are moved back in front only after that; it does not insert an existing rule again)."""
    deadline = time.monotonic() + timeout
    while "-j KUBE-FORWARD" not in run("iptables", "-w", "-S", "FORWARD").stdout:
        if time.monotonic() > deadline:
            raise ClusterError(f"kube-proxy made no KUBE-FORWARD jump within {timeout:.0f} s")
        time.sleep(0.2)


def remove_chains() -> None:
    for parent, rule in _jumps():
        while run("iptables", "-w", "-D", parent, *rule, check=False).returncode == 0:
            pass
    for chain in (FORWARD_CHAIN, INPUT_CHAIN):
        run("iptables", "-w", "-F", chain, check=False)
        run("iptables", "-w", "-X", chain, check=False)


TABLES = ("filter", "nat", "mangle")
OURS = ("KUBE-", "MODELDEPLOY")


def _chains(tool: str, table: str) -> tuple[list[str], list[str]]:
    """(chains named KUBE-*/MODELDEPLOY-*, rules of other chains that jump to them)."""
    listing = run(tool, "-w", "-t", table, "-S", check=False).stdout.splitlines()
    chains = [line.split()[1] for line in listing if line.startswith("-N ")]
    ours = [c for c in chains if c.startswith(OURS)]
    others = [
        line for line in listing if line.startswith("-A ") and not line.split()[1].startswith(OURS)
    ]
    jumps = [line for line in others if any(line.endswith(f"-j {c}") for c in ours)]
    return ours, jumps


def remove_kube_chains() -> None:
    """Every KUBE-* chain kubelet and kube-proxy made (IPv4 and IPv6), and the jumps to them.

    `kube-proxy --cleanup` removes its own; kubelet's (KUBE-FIREWALL, KUBE-KUBELET-CANARY, ...)
    have no clean-up command.
    """
    for tool in ("iptables", "ip6tables"):
        for table in TABLES:
            chains, jumps = _chains(tool, table)
            for rule in jumps:
                run(tool, "-w", "-t", table, *shlex.split(rule.replace("-A ", "-D ", 1)),
                    check=False)  # fmt: skip
            for chain in chains:
                if chain.startswith("KUBE-"):
                    run(tool, "-w", "-t", table, "-F", chain, check=False)
            for chain in chains:
                if chain.startswith("KUBE-"):
                    run(tool, "-w", "-t", table, "-X", chain, check=False)


def our_chains_left() -> list[str]:
    """KUBE-* and MODELDEPLOY-* chains still in the filter, nat and mangle tables (v4 and v6)."""
    return [f"{tool} {table}: {chain}" for tool in ("iptables", "ip6tables") for table in TABLES
            for chain in _chains(tool, table)[0]]  # fmt: skip
