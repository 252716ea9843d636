"""Run the image's `modeldeploy` the way a pod does: a buildah-mounted root filesystem under runc.

The image comes from the archive hack/image/build.sh wrote (what a node imports); everything
these helpers create (the image pulled from the archive, its working container and mount, the
runc container) is removed when the `with` block ends. Host network namespace: every server
involved listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.image.images import buildah, transport

# Requests go straight to the loopback servers, whatever proxy the shell has.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclasses.dataclass(frozen=True)
class MountedImage:
    rootfs: Path
    env: dict[str, str]
    labels: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Bind:
    """A host path bind-mounted into the container (read-only unless said otherwise)."""

    source: Path
    destination: str
    writable: bool = False


def _image_ids() -> set[str]:
    done = buildah("images", "--all", "--noheading", "--no-trunc", "--format", "{{.ID}}")
    assert done.returncode == 0, done.stderr
    return {line.removeprefix("sha256:") for line in done.stdout.split()}


@contextlib.contextmanager
def mounted_image(archive: Path) -> Iterator[MountedImage]:
    """The archive's root filesystem, mounted by buildah, with the image's Env and Labels.

    The root filesystem is never written (runc mounts it read-only). Afterwards the mount and
    the working container go, and so does the image if this call pulled it.
    """
    before, image_id = _image_ids(), ""
    created = buildah("from", "--quiet", transport(archive), timeout=900)
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    try:
        inspected = json.loads(buildah("inspect", "--type=container", container).stdout)
        image_id = str(inspected["FromImageID"]).removeprefix("sha256:")
        mounted = buildah("mount", container)
        assert mounted.returncode == 0, mounted.stderr
        config = inspected["OCIv1"]["config"]
        yield MountedImage(
            rootfs=Path(mounted.stdout.strip()),
            env=dict(e.split("=", 1) for e in config.get("Env", [])),
            labels=dict(config.get("Labels") or {}),
        )
    finally:
        buildah("umount", container)
        buildah("rm", container)
        if image_id and image_id not in before:
            buildah("rmi", image_id, timeout=300)


def pod_like_config(
    bundle: Path,
    rootfs: Path,
    *,
    argv: list[str],
    env: dict[str, str],
    uid: int,
    hostname: str,
    binds: list[Bind],
) -> dict[str, Any]:
    """An OCI runtime config with the chart's pod security settings (runc's defaults otherwise):
    uid `uid`, a read-only root filesystem with a tmpfs on /tmp (the emptyDir), no capabilities,
    no privilege escalation, the host's network namespace.
    """
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
    config["hostname"] = hostname
    config["linux"]["namespaces"] = [
        n for n in config["linux"]["namespaces"] if n["type"] != "network"
    ]
    config["mounts"].append(
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777", "size=256m"]},
    )  # fmt: skip
    config["mounts"] += [
        {"destination": b.destination, "type": "bind", "source": str(b.source),
         "options": ["rbind", "rw" if b.writable else "ro"]}
        for b in binds
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


def http(url: str, body: dict[str, Any] | None = None, *, timeout: float = 2) -> tuple[int, str]:
    """GET (or POST `body` as JSON) `url`: the status and the text; status 0 if nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


def wait_until_healthy(url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while http(url)[0] != 200:
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{url} never answered 200; container log:\n{tail}")
        time.sleep(0.5)
