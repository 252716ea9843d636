"""The operator image runs the operator the way the chart's pod does, and it works.

The container is started with runc from the image built by hack/image/build.sh, configured as
the chart's Deployment configures the pod: its args and environment (rendered by `helm
template`), uid 65532, a read-only root filesystem with a tmpfs on /tmp (the emptyDir), no
capabilities, no privilege escalation, and only a token of the chart's ServiceAccount (RBAC
rendered by the chart). It must answer the chart's liveness/readiness probe path on the health
port, serve metrics, and reconcile a cached and an uncached ModelDeployment without a 403.

Host network namespace (the API server and the hub listen on loopback); no pods exist, see
tests/chart/operator_run.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart import operator_run, rendering
from tests.image.images import buildah, image_archive, unavailable_reason
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

KUBECONFIG_IN_CONTAINER = "/etc/modeldeploy/kubeconfig"


@pytest.fixture(scope="module")
def helm_bin() -> Path:
    binary = rendering.find_helm()
    if binary is None:
        pytest.skip("helm not built: run hack/build-tools.sh")
    return binary


@dataclasses.dataclass(frozen=True)
class MountedImage:
    rootfs: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def image() -> Iterator[MountedImage]:
    """The image's root filesystem, mounted by buildah, and its environment (never written)."""
    reason = unavailable_reason() or (None if shutil.which("runc") else "runc not installed")
    if reason is not None:
        pytest.skip(reason)
    archive = image_archive()
    created = buildah("from", "--quiet", f"oci-archive:{archive}", timeout=300)
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    try:
        mounted = buildah("mount", container)
        assert mounted.returncode == 0, mounted.stderr
        inspected = json.loads(buildah("inspect", "--type=container", container).stdout)
        env = dict(e.split("=", 1) for e in inspected["OCIv1"]["config"].get("Env", []))
        yield MountedImage(rootfs=Path(mounted.stdout.strip()), env=env)
    finally:
        buildah("umount", container)
        buildah("rm", container)


def pod_like_config(
    bundle: Path, rootfs: Path, *, argv: list[str], env: dict[str, str], uid: int, kubeconfig: Path
) -> dict[str, Any]:
    """An OCI runtime config with the chart's pod security settings (runc's defaults otherwise)."""
    done = subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=False,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads((bundle / "config.json").read_text())
    process = config["process"]
    process.update(
        terminal=False, args=argv, cwd="/tmp", noNewPrivileges=True,
        user={"uid": uid, "gid": uid},
        env=[f"{k}={v}" for k, v in env.items()],
        capabilities={k: [] for k in process["capabilities"]},  # drop: [ALL]
    )  # fmt: skip
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["hostname"] = "modeldeploy-operator"
    config["linux"]["namespaces"] = [
        n for n in config["linux"]["namespaces"] if n["type"] != "network"
    ]
    config["mounts"] += [
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777", "size=256m"]},
        {"destination": KUBECONFIG_IN_CONTAINER, "type": "bind", "source": str(kubeconfig),
         "options": ["rbind", "ro"]},
    ]  # fmt: skip
    return config


@contextlib.contextmanager
def runc_container(bundle: Path, config: dict[str, Any], log: Path) -> Iterator[str]:
    """Run the bundle with runc until the block ends; stop it with SIGTERM, then delete it."""
    (bundle / "config.json").write_text(json.dumps(config))
    name = f"modeldeploy-test-{uuid.uuid4().hex[:8]}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["runc", "run", "--bundle", str(bundle), name],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield name
    finally:
        subprocess.run(["runc", "kill", name, "TERM"], capture_output=True, check=False)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            subprocess.run(["runc", "kill", name, "KILL"], capture_output=True, check=False)
            proc.wait(timeout=10)
        subprocess.run(["runc", "delete", "--force", name], capture_output=True, check=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except OSError:
        return 0, ""


def wait_until_healthy(url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while http_get(url)[0] != 200:
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{url} never answered 200; operator log:\n{tail}")
        time.sleep(0.5)


def test_operator_from_the_image_runs_like_the_chart_pod(
    image: MountedImage, helm_bin: Path, tmp_path: Path
) -> None:
    health, metrics = free_port(), free_port()
    sets = [
        f"operator.healthPort={health}", f"operator.metricsPort={metrics}",
        "operator.statusNetworks={127.0.0.1/32}", "operator.statusPollSeconds=2",
    ]  # fmt: skip
    objects = rendering.render(helm_bin, sets=sets)
    container = rendering.operator_container(objects)
    pod = rendering.one(objects, "Deployment")["spec"]["template"]["spec"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    probe_path = container["livenessProbe"]["httpGet"]["path"]

    with (
        operator_run.control_plane_with_crd() as cluster,
        operator_run.hub_with_tiny_model() as hub,
    ):
        run_and_check(
            cluster, hub, helm_bin, image.rootfs, tmp_path,
            argv=["modeldeploy", *container["args"]],
            env={**image.env, **rendering.env_of(container), "KUBECONFIG": KUBECONFIG_IN_CONTAINER},
            uid=int(pod["securityContext"]["runAsUser"]),
            health_url=f"http://127.0.0.1:{health}{probe_path}",
            metrics_url=f"http://127.0.0.1:{metrics}/metrics",
        )  # fmt: skip


def run_and_check(
    cluster: Cluster, hub: HubServer, helm_bin: Path, rootfs: Path, tmp_path: Path, *,
    argv: list[str], env: dict[str, str], uid: int, health_url: str, metrics_url: str,
) -> None:  # fmt: skip
    namespace = operator_run.new_namespace(cluster)
    account = operator_run.install_rbac(cluster, helm_bin, release="md-image", sets=[])
    kubeconfig = operator_run.token_kubeconfig(cluster, account, tmp_path / "kubeconfig")
    kubeconfig.chmod(0o644)  # readable by uid 65532 inside the container
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = pod_like_config(bundle, rootfs, argv=argv, env=env, uid=uid, kubeconfig=kubeconfig)
    log = tmp_path / "operator.log"
    with runc_container(bundle, config, log):
        wait_until_healthy(health_url, log)
        operator_run.apply_cached_and_uncached(cluster, namespace, hub)
        operator_run.wait_for_children(cluster, namespace, log=log)
        for name in ("cached", "uncached"):
            operator_run.wait_for_status(cluster, namespace, name)
        code, text = http_get(metrics_url)
        assert code == 200 and "modeldeploy_operator_reconciles_total" in text
        assert http_get(health_url)[0] == 200
    output = log.read_text(errors="replace")
    assert "Read-only file system" not in output
    forbidden = operator_run.forbidden_lines(output)
    assert forbidden == [], "\n".join(forbidden[:20])
