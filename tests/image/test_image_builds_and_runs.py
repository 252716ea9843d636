"""The image built from the Dockerfile without Docker runs `modeldeploy`, as a non-root user.

hack/image/build.sh makes a Debian bookworm base with debootstrap, imports it with buildah and
runs `buildah bud` on the repository's Dockerfile (TORCH_VARIANT=none: the operator image; the
runtime image, TORCH_VARIANT=cuda, is tested in test_runtime_image_serves_a_tiny_model.py). The
result, an OCI image layout, is what a containerd node imports. These tests start a container from
that image with `buildah run` (chroot isolation: no runc, no network namespace needed).

See tests/image/images.py for when the image is built.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.image.images import (
    buildah,
    image_archive,
    image_config,
    package_version,
    run_in,
    transport,
    unavailable_reason,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    """A working container from the image archive, removed afterwards."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    archive = image_archive()
    created = buildah("from", "--quiet", transport(archive), timeout=300)
    assert created.returncode == 0, created.stderr
    name = created.stdout.strip()
    try:
        yield name
    finally:
        buildah("rm", name)


def test_modeldeploy_help_runs_inside_the_image(container: str) -> None:
    done = run_in(container, "modeldeploy", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: modeldeploy" in done.stdout
    for command in ("operator", "serve", "fetch", "verify"):
        assert command in done.stdout


def test_version_inside_the_image_is_the_package_version(container: str) -> None:
    done = run_in(container, "modeldeploy", "--version")
    assert done.stdout.strip() == f"modeldeploy {package_version()}"


def test_both_roles_are_served_by_the_entrypoint(container: str) -> None:
    assert image_config(container)["Entrypoint"] == ["modeldeploy"]
    for role in ("operator", "serve"):
        done = run_in(container, "modeldeploy", role, "--help")
        assert done.returncode == 0, f"{role}: {done.stderr}"


def test_runs_as_uid_65532_not_root(container: str) -> None:
    assert image_config(container)["User"] == "65532:65532"
    assert run_in(container, "id", "-u").stdout.strip() == "65532"


def test_installed_package_is_plain_files_without_pip_or_sources(container: str) -> None:
    script = (
        "import importlib.util, os, pathlib, modeldeploy.cli.main as m;"
        "root = pathlib.Path(m.__file__).parents[1];"
        "links = [str(p) for p in root.rglob('*') if p.is_symlink()];"
        "print(root, links, importlib.util.find_spec('pip') is not None, os.path.exists('/src'))"
    )
    done = run_in(container, "python3", "-c", script)
    assert done.returncode == 0, done.stderr
    root, rest = done.stdout.strip().split(" ", 1)
    assert root.startswith("/opt/modeldeploy/lib/")
    assert rest == "[] False False"  # no links, no pip, no build sources
    for floor in ("operator", "runtime", "hub"):
        done = run_in(
            container, "test", "-d", f"{root}/{floor}", "-a", "!", "-L", f"{root}/{floor}"
        )
        assert done.returncode == 0, f"{floor} is not a real folder in the image"


def test_operator_image_has_no_torch(container: str) -> None:
    labels = image_config(container).get("Labels", {})
    assert labels.get("io.modeldeploy.torch-variant") == "none"
    assert labels.get("org.opencontainers.image.version") == package_version()
    done = run_in(container, "python3", "-c", "import torch")
    assert done.returncode != 0 and "No module named 'torch'" in done.stderr
