"""A fetch killed or interrupted mid-download resumes from its partial file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from modeldeploy.hub import fetch
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.support.hubserver import HubServer, random_bytes

BIG = "model.safetensors"
SIZE = 6_000_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def big_repo(hub: HubServer) -> bytes:
    data = random_bytes(SIZE, seed=11)
    hub.add_repo("acme/big", {BIG: data, "config.json": b"{}"})
    return data


def _start_cli(hub: HubServer, dest: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modeldeploy",
            "fetch",
            "acme/big",
            "--dest",
            str(dest),
            "--endpoint",
            hub.endpoint,
            "--progress",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


def _wait_for_partial(dest: Path, size: int) -> None:
    part = dest / ".modeldeploy" / "partial" / f"{BIG}.part"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if part.exists() and part.stat().st_size >= size:
            return
        time.sleep(0.05)
    raise AssertionError(f"the partial never reached {size} bytes")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_killed_process_resumes_sending_little_again(
    hub: HubServer, big_repo: bytes, dest: Path, how: signal.Signals
):
    hub.stall(BIG, at_byte=4_000_000, seconds=30)
    process = _start_cli(hub, dest)
    _wait_for_partial(dest, 4_000_000)

    process.send_signal(how)
    out, err = process.communicate(timeout=20)

    assert process.returncode != 0
    if how == signal.SIGTERM:
        assert b'"reason":"Interrupted"' in out.splitlines()[-1]
        assert b"Interrupted" in err
    hub.reset_counters()
    fetch.fetch("acme/big", dest, endpoint=hub.endpoint)
    assert (dest / BIG).read_bytes() == big_repo
    assert hub.bytes_served(BIG) <= SIZE * 0.4
    assert hub.downloads(BIG)[0].range == "bytes=4000000-"


def test_cancel_event_stops_promptly_keeping_the_partial(
    hub: HubServer, big_repo: bytes, dest: Path
):
    hub.stall(BIG, at_byte=3_000_000, seconds=30)
    cancel = threading.Event()
    threading.Timer(0.1, lambda: (_wait_for_partial(dest, 3_000_000), cancel.set())).start()
    started = time.monotonic()

    with pytest.raises(FetchError) as caught:
        fetch.fetch("acme/big", dest, endpoint=hub.endpoint, cancel=cancel)

    assert caught.value.reason is FetchReason.Interrupted
    assert time.monotonic() - started < 10
    part = dest / ".modeldeploy" / "partial" / f"{BIG}.part"
    assert part.stat().st_size == 3_000_000
    assert not (dest / ".modeldeploy" / "manifest.json").exists()


def test_a_partial_for_another_commit_is_not_reused(hub: HubServer, big_repo: bytes, dest: Path):
    hub.stall(BIG, at_byte=2_000_000, seconds=30)
    cancel = threading.Event()
    threading.Timer(0.1, lambda: (_wait_for_partial(dest, 2_000_000), cancel.set())).start()
    with pytest.raises(FetchError):
        fetch.fetch("acme/big", dest, endpoint=hub.endpoint, cancel=cancel)
    other = random_bytes(SIZE, seed=12)
    hub.add_commit("acme/big", {BIG: other, "config.json": b"{}"})
    hub.reset_counters()

    fetch.fetch("acme/big", dest, endpoint=hub.endpoint)

    assert (dest / BIG).read_bytes() == other
    assert hub.downloads(BIG)[0].range is None


def test_a_corrupt_partial_prefix_is_detected_and_downloaded_again(
    hub: HubServer, big_repo: bytes, dest: Path
):
    hub.stall(BIG, at_byte=2_000_000, seconds=30)
    cancel = threading.Event()
    threading.Timer(0.1, lambda: (_wait_for_partial(dest, 2_000_000), cancel.set())).start()
    with pytest.raises(FetchError):
        fetch.fetch("acme/big", dest, endpoint=hub.endpoint, cancel=cancel)
    part = dest / ".modeldeploy" / "partial" / f"{BIG}.part"
    with part.open("r+b") as handle:  # a bit flipped on disk while the fetcher was away
        handle.seek(1000)
        handle.write(bytes([big_repo[1000] ^ 0x01]))
    hub.reset_counters()

    fetch.fetch("acme/big", dest, endpoint=hub.endpoint)

    assert (dest / BIG).read_bytes() == big_repo
    assert [r.range for r in hub.downloads(BIG)] == ["bytes=2000000-", None]
