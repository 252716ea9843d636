"""What a real node leaves on the host if not cleaned up, found and removed.

Mounts (kubelet's volumes and its rshared root, containerd's rootfs and shm mounts, the pods'
network namespaces under /run/netns), pod-log symlinks kubelet makes in /var/log/containers and
the kubepods cgroups. Everything is matched by path: under the run's node dir, under containerd's
root, or a network namespace that did not exist when the node started.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tests.support.cluster import hostnet

NETNS_DIR = Path("/run/netns")
CONTAINER_LOGS = Path("/var/log/containers")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")


def mounts_under(prefixes: tuple[Path, ...]) -> list[str]:
    """Mount points below any of the prefixes, deepest first (from /proc/self/mountinfo)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if any(point == str(p) or point.startswith(f"{p}/") for p in prefixes):
            found.append(point)
    return sorted(found, key=lambda p: (p.count("/"), p), reverse=True)


def cni_netns() -> set[str]:
    return {p.name for p in NETNS_DIR.glob("cni-*")} if NETNS_DIR.is_dir() else set()


def new_netns(before: set[str]) -> list[Path]:
    return [NETNS_DIR / name for name in sorted(cni_netns() - before)]


def unmount_all(prefixes: tuple[Path, ...]) -> None:
    """Unmount every mount point below the prefixes; lazily if busy (a dying process holds it)."""
    for _ in range(3):  # a mount may be stacked several times (kubelet's rshared bind)
        for point in mounts_under(prefixes):
            if hostnet.run("umount", point, check=False).returncode != 0:
                hostnet.run("umount", "--lazy", point, check=False)


def remove_netns(paths: list[Path]) -> None:
    for path in paths:
        hostnet.run("umount", str(path), check=False)
        with contextlib.suppress(OSError):
            path.unlink()


def remove_log_links(node: Path) -> None:
    if not CONTAINER_LOGS.is_dir():
        return
    for link in CONTAINER_LOGS.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(f"{node}/"):
                link.unlink()


def kubepods_cgroups() -> list[Path]:
    """Every kubepods cgroup directory, deepest first, across the v1 hierarchies."""
    found = [p for top in CGROUP_ROOT.glob("*/kubepods") for p in top.rglob("*") if p.is_dir()]
    found += list(CGROUP_ROOT.glob("*/kubepods"))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_cgroups() -> list[str]:
    """rmdir the kubepods trees; returns those that still hold processes."""
    busy = []
    for path in kubepods_cgroups():
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError as e:
            busy.append(f"{path}: {e.strerror}")
    return busy
