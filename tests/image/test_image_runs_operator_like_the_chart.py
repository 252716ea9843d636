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

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chart import operator_run, rendering
from tests.image import containers
from tests.image.images import image_archive, unavailable_reason
from tests.support.cluster import Cluster
from tests.support.hubserver import HubServer
from tests.support.net import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

KUBECONFIG_IN_CONTAINER = "/etc/modeldeploy/kubeconfig"


@pytest.fixture(scope="module")
def helm_bin() -> Path:
    binary = rendering.find_helm()
    if binary is None:
        pytest.skip("helm not built: run hack/build-tools.sh")
    return binary


@pytest.fixture(scope="module")
def image() -> Iterator[containers.MountedImage]:
    """The operator image's root filesystem, mounted by buildah (never written)."""
    reason = unavailable_reason() or (None if shutil.which("runc") else "runc not installed")
    if reason is not None:
        pytest.skip(reason)
    with containers.mounted_image(image_archive()) as mounted:
        yield mounted


def test_operator_from_the_image_runs_like_the_chart_pod(
    image: containers.MountedImage, helm_bin: Path, tmp_path: Path
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
    config = containers.pod_like_config(
        bundle, rootfs, argv=argv, env=env, uid=uid, hostname="modeldeploy-operator",
        binds=[containers.Bind(kubeconfig, KUBECONFIG_IN_CONTAINER)],
    )  # fmt: skip
    log = tmp_path / "operator.log"
    with containers.runc_container(bundle, config, log):
        containers.wait_until_healthy(health_url, log)
        operator_run.apply_cached_and_uncached(cluster, namespace, hub)
        operator_run.wait_for_children(cluster, namespace, log=log)
        for name in ("cached", "uncached"):
            operator_run.wait_for_status(cluster, namespace, name)
        code, text = containers.http(metrics_url)
        assert code == 200 and "modeldeploy_operator_reconciles_total" in text
        assert containers.http(health_url)[0] == 200
    output = log.read_text(errors="replace")
    assert "Read-only file system" not in output
    forbidden = operator_run.forbidden_lines(output)
    assert forbidden == [], "\n".join(forbidden[:20])
