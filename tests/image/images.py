"""The image built by hack/image/build.sh, for tests: find (or build) its OCI layout, drive buildah.

The build downloads Debian packages and PyPI wheels, so a test run does not start one by
default: it uses the image built for the current inputs, and skips (with the reason) when
there is none (a failure under CI); MODELDEPLOY_IMAGE_BUILD=1 makes it build first
(hack/setup.sh builds it before the tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "hack" / "image" / "build.sh"
BUILD_ENV = "MODELDEPLOY_IMAGE_BUILD"
# A cold runtime (cuda) build downloads and commits gigabytes; tests that may build set their
# pytest timeout above this.
BUILD_TIMEOUT = 2400


def unavailable_reason() -> str | None:
    if shutil.which("buildah") is None:
        return "buildah not installed (Debian: apt-get install buildah debootstrap)"
    if os.geteuid() != 0:
        return "building and running images with buildah here needs root"
    return None


def transport(image: Path) -> str:
    """buildah's name for an image made by hack/image/build.sh: for a layout directory, the image
    copied into buildah's storage under its ref (skopeo: layers already there are not copied
    again; buildah 1.28 cannot name an image taken from a layout under a path like ~/.cache);
    for an archive, a tar of a layout, `oci-archive:`."""
    if not image.is_dir():
        return f"oci-archive:{image}"
    index = json.loads((image / "index.json").read_text())
    (manifest,) = index["manifests"]
    ref = manifest["annotations"]["org.opencontainers.image.ref.name"]
    done = subprocess.run(
        ["skopeo", "copy", "--quiet", f"oci:{image}:{ref}", f"containers-storage:{ref}"],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"skopeo copy of {image} failed: {done.stderr}"
    return f"containers-storage:{ref}"


def image_archive(variant: str = "none", *, engine: str | None = None) -> Path:
    """The OCI layout of the TORCH_VARIANT `variant` image (none: the operator image; with
    `engine="vllm"` the vLLM CPU image on it) for the current inputs: built now with
    MODELDEPLOY_IMAGE_BUILD=1 (cuda: ~15 min cold, ~5.5 GB; vllm: ~8 min cold, 6.8 GB).
    """
    build = os.environ.get(BUILD_ENV) == "1"
    args = [str(BUILD_SCRIPT)] + ([] if build else ["--print"])
    settings = {"TORCH_VARIANT": variant, **({"ENGINE": engine} if engine else {})}
    done = subprocess.run(args, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                          env={**os.environ, **settings}, check=False)  # fmt: skip
    if done.returncode != 0:
        if build:
            pytest.fail(f"hack/image/build.sh failed:\n{done.stderr[-4000:]}")
        how = " ".join(f"{k}={v}" for k, v in settings.items())
        pytest.skip(
            f"{how} image not built for the current sources: run"
            f" {how} hack/image/build.sh or set {BUILD_ENV}=1"
        )
    return Path(done.stdout.strip())


def buildah(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def run_in(container: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return buildah("run", "--isolation=chroot", container, "--", *argv)


def image_config(container: str) -> dict[str, Any]:
    done = buildah("inspect", "--type=container", container)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)["OCIv1"]["config"]
    return config


def package_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])
