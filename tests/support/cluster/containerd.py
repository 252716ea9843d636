"""The real node's private containerd 1.6: config, image import and forced clean-up.

Its root (content store, snapshots) persists under ~/.cache/modeldeploy/node/containerd so an
image imported once (the runtime image is gigabytes) is not imported again; its state, socket and
runc state live in the run's state dir. Shims (containerd-shim-runc-v2) outlive containerd by
design, so clean-up finds them, and the containers' init processes, by the PIDs containerd
recorded in its state dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tarfile
from pathlib import Path

from tests.support.cluster import hostnet
from tests.support.cluster.errors import ClusterError

NAMESPACE = "k8s.io"
SOCKET_MAX = 107  # sun_path is 108 bytes with the terminating NUL


# Registry guard: images come only from imported archives, and a reference that was not
# imported (a typo, `kubectl run busybox`) must not make containerd reach a registry over the
# host's network. Go's HTTP client sends every registry request to this proxy, a loopback port
# nothing listens on (the pull fails at once, naming it); the registry's name is not even
# resolved. Only the pod network and loopback are reached directly.
NO_EGRESS_PROXY = "http://127.0.0.1:9"
NO_EGRESS_ENV = (
    f"HTTP_PROXY={NO_EGRESS_PROXY}",
    f"HTTPS_PROXY={NO_EGRESS_PROXY}",
    "NO_PROXY=127.0.0.1,localhost,10.213.0.0/24",
)


def root_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "modeldeploy" / "node" / "containerd"


def unpacked_marks() -> Path:
    """One empty file per layer digest this root holds unpacked (written after an import):
    hack/setup.sh reads them to know that a rebuilt image whose big layers are already here
    costs only its layers' transient copy to import, not their unpacking (gigabytes)."""
    return root_dir().parent / "unpacked-layers"


def state_dir(node: Path) -> Path:
    return node / "ctd"


def socket(node: Path) -> Path:
    return state_dir(node) / "containerd.sock"


def config_toml(node: Path, *, sandbox_image: str, cni_conf_dir: Path) -> str:
    sock = socket(node)
    if len(str(sock)) > SOCKET_MAX:
        raise ClusterError(f"containerd socket path too long for a unix socket: {sock}")
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    # Plugins that only log errors or touch paths outside ours (/opt/containerd) are disabled.
    disabled = [
        "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp",
        "io.containerd.internal.v1.tracing",
    ]  # fmt: skip
    return f"""version = 2
root = {json.dumps(str(root_dir()))}
state = {json.dumps(str(state_dir(node)))}
disabled_plugins = {json.dumps(disabled)}

[grpc]
  address = {json.dumps(str(sock))}

[ttrpc]
  address = {json.dumps(str(sock) + ".ttrpc")}

[debug]
  address = ""

[metrics]
  address = ""

{cri}]
  sandbox_image = {json.dumps(sandbox_image)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  enable_cdi = false
  # These machines withhold CAP_SYS_RESOURCE even from root: runc cannot lower a container's
  # oom_score_adj (the sandbox asks for -998) below containerd's own, so clamp it there.
  restrict_oom_score_adj = true

{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = {json.dumps(str(node / "runc"))}

{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = {json.dumps(str(cni_conf_dir))}
  max_conf_num = 1
"""


def cni_conflist(ipam_dir: Path) -> str:
    """The bridge plugin on mdbr0 (CRI adds loopback itself from the same bin_dir)."""
    bridge = {
        "type": "bridge", "bridge": hostnet.BRIDGE, "isGateway": True, "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local", "dataDir": str(ipam_dir),
            "ranges": [[{"subnet": hostnet.POD_SUBNET, "rangeStart": "10.213.0.10",
                         "gateway": hostnet.GATEWAY}]],
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }  # fmt: skip
    conflist = {"cniVersion": "1.0.0", "name": "modeldeploy", "plugins": [bridge]}
    return json.dumps(conflist, indent=2) + "\n"


IMPORT_TIMEOUT_S = 1800  # the runtime image with CUDA torch is several GB


def ctr(node: Path, *args: str, check: bool = True, timeout: float = 60) -> str:
    argv = ["ctr", f"--address={socket(node)}", f"--namespace={NAMESPACE}", *args]
    return hostnet.run(*argv, check=check, timeout=timeout).stdout


def archive_image(archive: Path) -> tuple[str, str]:
    """(image ref, manifest digest) from the index.json annotation of an OCI image: a layout
    directory (hack/image/build.sh) or an archive, a tar of one (the pause and base images)."""
    if archive.is_dir():
        if not (archive / "index.json").is_file():
            raise ClusterError(f"{archive}: no index.json (not an OCI layout)")
        index = json.loads((archive / "index.json").read_text())
    else:
        with tarfile.open(archive, "r:") as tar:
            member = tar.extractfile("index.json")
            if member is None:
                raise ClusterError(f"{archive}: no index.json (not an OCI archive)")
            index = json.load(member)
    (manifest,) = index["manifests"]
    ref = manifest.get("annotations", {}).get("org.opencontainers.image.ref.name")
    if not ref:
        raise ClusterError(f"{archive}: no org.opencontainers.image.ref.name annotation")
    return str(ref), str(manifest["digest"])


def present_images(node: Path) -> dict[str, str]:
    """ref -> digest of every image in the k8s.io namespace."""
    rows = ctr(node, "images", "ls").splitlines()[1:]
    return {row.split()[0]: row.split()[2] for row in rows if row.strip()}


def import_images(node: Path, archives: tuple[Path, ...]) -> list[str]:
    """Import each archive unless its ref already points to the same manifest; returns refs."""
    refs = []
    present = present_images(node)
    for archive in archives:
        ref, digest = archive_image(archive)
        if present.get(ref) != digest:
            # Importing under the same ref replaces the image record; the layers it shares
            # with the one it replaces (torch and friends: gigabytes) stay, the rest becomes
            # garbage for containerd's collector. (Removing the old image first would make the
            # collector delete the shared layers, and the import unpack them all again.)
            import_one(node, archive)
        refs.append(ref)
    return refs


def import_one(node: Path, image: Path) -> None:
    """`ctr images import` of an OCI archive, or of a layout directory as a tar stream made on
    the fly (the layout's blobs are not copied into a tar file first: gigabytes)."""
    argv = ["ctr", f"--address={socket(node)}", f"--namespace={NAMESPACE}", "images", "import",
            "--snapshotter=overlayfs"]  # fmt: skip
    if not image.is_dir():
        hostnet.run(*argv, str(image), timeout=IMPORT_TIMEOUT_S)
        return
    with subprocess.Popen(
        ["tar", "-C", str(image), "-cf", "-", "oci-layout", "index.json", "blobs"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as tar:  # fmt: skip
        try:
            done = subprocess.run([*argv, "-"], stdin=tar.stdout, capture_output=True, text=True,
                                  timeout=IMPORT_TIMEOUT_S, check=False)  # fmt: skip
        finally:
            assert tar.stdout is not None
            tar.stdout.close()
        tar_errors = tar.stderr.read().decode() if tar.stderr else ""
        tar_status = tar.wait(timeout=60)
    if done.returncode != 0 or tar_status != 0:
        raise ClusterError(
            f"importing {image} failed: ctr exit {done.returncode}: {done.stderr.strip()[-2000:]}"
            f"; tar exit {tar_status}: {tar_errors.strip()[-500:]}"
        )
    discard_unpacked_layers(node, image)
    marks = unpacked_marks()
    marks.mkdir(parents=True, exist_ok=True)
    for digest in layer_digests(image):
        (marks / digest.split(":", 1)[-1]).touch()


def layer_digests(layout: Path) -> list[str]:
    """The layer digests of the one image in an OCI layout directory."""
    index = json.loads((layout / "index.json").read_text())
    (entry,) = index["manifests"]
    blob = layout / "blobs" / Path(*str(entry["digest"]).split(":", 1))
    manifest = json.loads(blob.read_text())
    return [str(layer["digest"]) for layer in manifest["layers"]]


def discard_unpacked_layers(node: Path, layout: Path) -> None:
    """Remove the imported image's layer blobs from containerd's content store once they are
    unpacked (what CRI's `discard_unpacked_layers` does for pulled images): containers start
    from the snapshots, so the blobs were a second copy of the image (gigabytes for torch).
    The manifest and config stay; a later import writes the layers again and skips unpacking
    those whose snapshots exist."""
    ctr(node, "content", "rm", *layer_digests(layout), timeout=IMPORT_TIMEOUT_S)


def remove_leftover_containers(node: Path) -> int:
    """Remove containers (sandboxes included) left in the persistent root by an earlier run."""
    ids = ctr(node, "containers", "ls", "--quiet").split()
    for cid in ids:
        ctr(node, "tasks", "delete", "--force", cid, check=False)
        ctr(node, "containers", "delete", cid, check=False)
    return len(ids)


def kill_tasks(node: Path) -> None:
    """Kill and delete every task, then every container, through containerd (still running)."""
    for cid in ctr(node, "tasks", "ls", "--quiet", check=False).split():
        ctr(node, "tasks", "kill", "--all", "--signal=SIGKILL", cid, check=False)
    for cid in ctr(node, "containers", "ls", "--quiet", check=False).split():
        ctr(node, "tasks", "delete", "--force", cid, check=False)
        ctr(node, "containers", "delete", cid, check=False)


def recorded_pids(node: Path) -> list[int]:
    """Container-init PIDs containerd wrote under its state dir, and its shims' PIDs.

    A shim serves a whole pod (its sandbox's bundle holds shim.pid); shims are also found by
    their command line, which names our containerd's socket.
    """
    tasks = state_dir(node) / "io.containerd.runtime.v2.task"
    pids = set(_shims(node))
    for name in ("init.pid", "shim.pid"):
        for path in tasks.glob(f"*/*/{name}"):
            with contextlib.suppress(OSError, ValueError):
                pids.add(int(path.read_text().strip()))
    return sorted(pids)


def _shims(node: Path) -> list[int]:
    address = str(socket(node)).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if b"containerd-shim" in argv[0] and address in argv:
                    found.append(int(proc.name))
    return found


def kill_recorded(node: Path) -> None:
    """SIGKILL what containerd's state names, if it still runs that binary (PIDs get reused)."""
    for pid in recorded_pids(node):
        with contextlib.suppress(OSError):
            exe = os.readlink(f"/proc/{pid}/exe")
            if "containerd-shim" in exe or _in_kubepods(pid):
                os.kill(pid, signal.SIGKILL)


def _in_kubepods(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return "/kubepods" in Path(f"/proc/{pid}/cgroup").read_text()
    return False
