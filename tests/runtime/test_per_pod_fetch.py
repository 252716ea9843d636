"""Per-pod fetch mode: `serve --repo ... --endpoint ...` on an empty directory fetches from the
(loopback) hub first, showing Fetching/Verifying progress on /status, then loads and serves.
SIGTERM during Fetching stops the download instead of finishing it."""

from __future__ import annotations

import time
from pathlib import Path

from tests.runtime import servers
from tests.support import tinymodels
from tests.support.hubserver import HubServer

REPO = "acme/tiny-lm"


def host(hub: HubServer, model_dir: Path) -> str:
    files = {p.relative_to(model_dir).as_posix(): p for p in tinymodels.model_files(model_dir)}
    return hub.add_repo(REPO, files)


def test_fetch_then_serve(tiny_lm: Path, tmp_path: Path) -> None:
    with HubServer() as hub:
        commit = host(hub, tiny_lm)
        hub.stall("model.safetensors", at_byte=200_000, seconds=1.0)  # Fetching lasts a while
        target = tmp_path / "model"
        serve = servers.start(target, tmp_path, "--repo", REPO, "--endpoint", hub.endpoint)
        try:
            serve.wait_listening()
            stream = serve.record_stream()
            status = serve.wait_state("Ready")
            serve.stop()
            stream.join(timeout=10)
        finally:
            serve.stop()
    states = [h["state"] for h in status["history"]]
    assert states == ["Starting", "Fetching", "Verifying", "Loading", "WarmingUp", "Ready"]
    assert status["commit"] == commit and status["verified"] is True
    assert status["model"]["repo"] == REPO
    assert status["download"]["bytesTotal"] >= (tiny_lm / "model.safetensors").stat().st_size
    assert status["timings"]["fetchSeconds"] >= 1.0
    fetching = [e["progress"] for e in serve.events if e["state"] == "Fetching"]
    assert fetching == sorted(fetching) and any(0 < p < 1 for p in fetching), fetching
    assert (target / ".modeldeploy" / "manifest.json").is_file()


def test_sigterm_during_fetch_cancels_it(tiny_lm: Path, tmp_path: Path) -> None:
    with HubServer() as hub:
        host(hub, tiny_lm)
        hub.stall("model.safetensors", at_byte=100_000, seconds=120)
        serve = servers.start(
            tmp_path / "model", tmp_path, "--repo", REPO, "--endpoint", hub.endpoint
        )
        try:
            serve.wait_state("Fetching", timeout=60)
            time.sleep(0.5)
            sent = time.monotonic()
            serve.sigterm()
            assert serve.wait_exit(timeout=60) == 0
            assert time.monotonic() - sent < 15
            assert "state Loading" not in serve.log()
        finally:
            serve.stop()
    assert not (tmp_path / "model" / ".modeldeploy" / "manifest.json").exists()
