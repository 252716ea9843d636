"""Per-pod fetch mode: `serve --repo ... --endpoint ...` on an empty directory fetches from the
(loopback) hub first, showing Fetching/Verifying progress on /status, then loads and serves.
A directory holding another repo or revision is fetched over, never served under the asked
name. SIGTERM during Fetching stops the download instead of finishing it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modeldeploy.runtime import integrity
from modeldeploy.runtime.config import RuntimeConfig
from tests.runtime import servers
from tests.support import tinymodels
from tests.support.hubserver import HubServer

REPO = "acme/tiny-lm"


def host(hub: HubServer, model_dir: Path) -> str:
    files = {p.relative_to(model_dir).as_posix(): p for p in tinymodels.model_files(model_dir)}
    return hub.add_repo(REPO, files)


def poison_shell_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer shell with a proxy that does not exist and a real-looking token: the test
    runtime must not inherit them (loopback traffic through the proxy would fail)."""
    dead = "http://127.0.0.1:9"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", dead)
    monkeypatch.setenv("HF_TOKEN", "hf_not_for_tests")


def test_fetch_then_serve(tiny_lm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_shell_settings(monkeypatch)
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


def test_a_directory_holding_another_model_is_fetched_over(
    tiny_lm: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    target = tinymodels.copy_model(tiny_lm, tmp_path / "model")  # manifest: tests/tiny-lm
    with HubServer() as hub:
        files = {
            p.relative_to(tiny_encoder).as_posix(): p for p in tinymodels.model_files(tiny_encoder)
        }
        commit = hub.add_repo("acme/encoder", files)
        serve = servers.start(
            target, tmp_path, "--repo", "acme/encoder", "--endpoint", hub.endpoint
        )
        try:
            status = serve.wait_state("Ready")
        finally:
            serve.stop()
    fetching = status["history"][1]
    assert (fetching["state"], fetching["reason"]) == ("Fetching", "ManifestMismatch")
    assert "tests/tiny-lm@main" in fetching["message"]
    assert status["model"]["repo"] == "acme/encoder" and status["commit"] == commit
    assert status["model"]["task"] == "embeddings"


def manifest_dir(tmp_path: Path, *, repo: str, revision: str) -> Path:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "config.json").write_text("{}")
    tinymodels.write_manifest_for(directory, repo=repo, revision=revision)
    return directory


@pytest.mark.parametrize(
    ("repo", "revision", "reason"),
    [
        ("acme/m", "main", None),
        ("acme/m", tinymodels.DEFAULT_COMMIT, None),  # the recorded commit, asked by sha
        ("acme/m", "v2", "ManifestMismatch"),
        ("acme/other", "main", "ManifestMismatch"),
    ],
)
def test_fetch_only_when_the_manifest_is_not_the_asked_revision(
    tmp_path: Path, repo: str, revision: str, reason: str | None
) -> None:
    directory = manifest_dir(tmp_path, repo="acme/m", revision="main")
    found = integrity.fetch_reason(RuntimeConfig(directory, repo=repo, revision=revision))
    assert (found[0] if found else None) == reason


def test_fetch_when_there_is_no_manifest_and_never_without_a_repo(tmp_path: Path) -> None:
    found = integrity.fetch_reason(RuntimeConfig(tmp_path, repo="acme/m"))
    assert found is not None and found[0] == "ManifestIncomplete"
    assert integrity.fetch_reason(RuntimeConfig(tmp_path)) is None


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


def test_per_pod_fetch_honours_include_and_pins(tiny_lm: Path, tmp_path: Path) -> None:
    """`--include` selects the files and a `--sha256` pin overrides the hub: a wrong pin
    fails the pod with ChecksumMismatch naming the file, as the fetch Job would."""
    with HubServer() as hub:
        host(hub, tiny_lm)
        hub.add_commit(
            REPO,
            {**{p.relative_to(tiny_lm).as_posix(): p for p in tinymodels.model_files(tiny_lm)},
             "notes/extra.txt": b"not selected"},
        )  # fmt: skip
        selected = tmp_path / "selected"
        serve = servers.start(
            selected, tmp_path, "--repo", REPO, "--endpoint", hub.endpoint,
            "--include", "*.json", "--include", "*.safetensors",
        )  # fmt: skip
        try:
            serve.wait_state("Ready")
        finally:
            serve.stop()
        assert not (selected / "notes").exists(), "a file outside --include was fetched"
        pinned = tmp_path / "pinned"
        serve = servers.start(
            pinned, tmp_path, "--repo", REPO, "--endpoint", hub.endpoint,
            "--sha256", f"model.safetensors={'0' * 64}",
        )  # fmt: skip
        try:
            status = serve.wait_state("Failed")
        finally:
            serve.stop()
    assert status["error"]["reason"] == "ChecksumMismatch"
    assert "model.safetensors" in status["error"]["message"]
