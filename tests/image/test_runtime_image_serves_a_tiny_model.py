"""The runtime image (TORCH_VARIANT=cuda: torch from PyPI) serves a model the way a pod does.

The container is started with runc from the archive hack/image/build.sh wrote for
TORCH_VARIANT=cuda, as the chart's runtime pod would run it: uid 65532, a read-only root
filesystem with a tmpfs on /tmp, no capabilities, the model directory mounted read-only and
the termination log bind-mounted as kubelet does. No GPU here: `--device auto` picks the CPU,
which is what the CUDA build of torch does on a node without a driver.

The archive is ~5.5 GB and takes ~15 min to build cold; like the operator image's tests these
use the archive built for the current sources and skip when there is none
(MODELDEPLOY_IMAGE_BUILD=1 builds it first). See tests/image/images.py.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image import containers
from tests.image.images import BUILD_TIMEOUT, image_archive, package_version, unavailable_reason
from tests.support import tinymodels
from tests.support.net import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_TIMEOUT + 600)]

MODEL_IN_CONTAINER = "/models/tiny-lm"
SERVED_NAME = "tiny"
READY_TIMEOUT = 300  # importing torch and transformers from the image, loading, warm-up


@dataclasses.dataclass(frozen=True)
class Served:
    url: str
    log: Path
    termination_log: Path
    labels: dict[str, str]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def runtime_image() -> Iterator[containers.MountedImage]:
    reason = unavailable_reason() or (None if shutil.which("runc") else "runc not installed")
    if reason is not None:
        pytest.skip(reason)
    with containers.mounted_image(image_archive("cuda")) as mounted:
        yield mounted


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fetched-looking tiny Llama (with its manifest), readable by uid 65532."""
    directory = tinymodels.build_causal_lm(tmp_path_factory.mktemp("models") / "tiny-lm")
    tinymodels.write_manifest_for(directory, repo="tests/tiny-lm")
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return directory


@pytest.fixture(scope="module")
def served(
    runtime_image: containers.MountedImage, tiny_lm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`modeldeploy serve` from the image, Ready, on a loopback port; stopped afterwards."""
    work = tmp_path_factory.mktemp("runtime-container")
    bundle = work / "bundle"
    bundle.mkdir()
    termination_log = work / "termination-log"
    termination_log.touch(mode=0o666)
    termination_log.chmod(0o666)
    port = free_port()
    argv = ["modeldeploy", "serve", "--model-dir", MODEL_IN_CONTAINER, "--host", "127.0.0.1",
            "--port", str(port), "--served-model-name", SERVED_NAME]  # fmt: skip
    config = containers.pod_like_config(
        bundle, runtime_image.rootfs, argv=argv, env=runtime_image.env, uid=65532,
        hostname="modeldeploy-runtime",
        binds=[containers.Bind(tiny_lm, MODEL_IN_CONTAINER),
               containers.Bind(termination_log, "/dev/termination-log", writable=True)],
    )  # fmt: skip
    log = work / "runtime.log"
    with containers.runc_container(bundle, config, log):
        result = Served(f"http://127.0.0.1:{port}", log, termination_log, runtime_image.labels)
        wait_until_ready(result)
        yield result


def wait_until_ready(served: Served) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while containers.http(served.url + "/readyz")[0] != 200:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"/readyz never answered 200 in {READY_TIMEOUT} s; termination log:"
                f" {served.termination_log.read_text()!r}; runtime log:\n{served.output()[-4000:]}"
            )
        time.sleep(1)


def test_image_is_the_cuda_runtime_variant_of_this_version(served: Served) -> None:
    assert served.labels.get("io.modeldeploy.torch-variant") == "cuda"
    assert served.labels.get("org.opencontainers.image.version") == package_version()


def test_readyz_answers_200_once_the_model_is_loaded(served: Served) -> None:
    assert containers.http(served.url + "/readyz")[0] == 200
    assert containers.http(served.url + "/livez")[0] == 200


def test_completions_are_generated_from_the_read_only_model(served: Served) -> None:
    body = {"model": SERVED_NAME, "prompt": "hello world", "max_tokens": 5,
            "temperature": 0, "ignore_eos": True}  # fmt: skip
    status, text = containers.http(served.url + "/v1/completions", body, timeout=60)
    assert status == 200, text
    reply = json.loads(text)
    assert reply["model"] == SERVED_NAME
    assert isinstance(reply["choices"][0]["text"], str)
    assert reply["usage"]["completion_tokens"] == 5
    assert reply["choices"][0]["finish_reason"] == "length"


def test_runtime_writes_nothing_it_cannot_and_reports_no_failure(served: Served) -> None:
    assert containers.http(served.url + "/readyz")[0] == 200
    output = served.output()
    assert "Read-only file system" not in output
    assert "Permission denied" not in output
    assert served.termination_log.read_text() == ""
