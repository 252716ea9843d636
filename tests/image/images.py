"""The image built by hack/image/build.sh, for tests: find (or build) its archive, drive buildah.

The build downloads Debian packages and PyPI wheels, so a test run does not start one by
default: it uses the archive built for the current inputs, and skips (with the reason) when
there is none; MODELDEPLOY_IMAGE_BUILD=1 makes it build first (CI runs hack/image/build.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

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


def image_archive(variant: str = "none") -> Path:
    """The OCI archive of the TORCH_VARIANT `variant` image (none: the operator image) for the
    current inputs: built now with MODELDEPLOY_IMAGE_BUILD=1 (cuda: ~15 min cold, ~5.5 GB).
    """
    build = os.environ.get(BUILD_ENV) == "1"
    args = [str(BUILD_SCRIPT)] + ([] if build else ["--print"])
    env = {**os.environ, "TORCH_VARIANT": variant}
    done = subprocess.run(args, capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=env,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        if build:
            pytest.fail(f"hack/image/build.sh failed:\n{done.stderr[-4000:]}")
        pytest.skip(
            f"TORCH_VARIANT={variant} image not built for the current sources: run"
            f" TORCH_VARIANT={variant} hack/image/build.sh or set {BUILD_ENV}=1"
        )
    return Path(done.stdout.strip())


def buildah(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def package_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])
