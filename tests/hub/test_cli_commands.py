"""`modeldeploy fetch` and `modeldeploy verify`: JSON progress lines, exit codes, lean start."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeldeploy.cli.main import main
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer

SHARD = "model-00001-of-00002.safetensors"
ROOT = Path(__file__).resolve().parents[2]
PROGRESS_KEYS = {
    "event",
    "bytesDone",
    "bytesTotal",
    "filesDone",
    "filesTotal",
    "bytesPerSecond",
    "etaSeconds",
}


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_fetch_json_progress_is_one_object_per_line(
    hub: HubServer, model: ModelRepo, dest: Path, capsys: pytest.CaptureFixture[str]
):
    code = main(
        ["fetch", model.repo, "--dest", str(dest), "--endpoint", hub.endpoint, "--progress", "json"]
    )

    lines = _json_lines(capsys.readouterr().out)
    assert code == 0
    assert all(line.keys() >= PROGRESS_KEYS for line in lines)
    assert lines[0]["event"] == "resolving"
    done = lines[-1]
    assert done["event"] == "done" and done["verified"] is True
    assert done["commit"] == model.commit and done["filesDone"] == done["filesTotal"] == 5
    assert done["bytesDone"] == done["bytesTotal"] == sum(map(len, model.files.values()))
    assert isinstance(done["seconds"], float)
    manifest_bytes = (dest / ".modeldeploy" / "manifest.json").read_bytes()
    assert done["manifestDigest"] == "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()


def test_fetch_failure_ends_with_an_error_line_and_exit_1(
    hub: HubServer, dest: Path, capsys: pytest.CaptureFixture[str]
):
    code = main(
        [
            "fetch",
            "acme/missing",
            "--dest",
            str(dest),
            "--endpoint",
            hub.endpoint,
            "--progress",
            "json",
        ]
    )

    captured = capsys.readouterr()
    last = _json_lines(captured.out)[-1]
    assert code == 1
    assert last["event"] == "error" and last["reason"] == "RepoNotFound"
    assert captured.err.count("\n") == 1 and "acme/missing" in captured.err


def test_fetch_takes_the_token_from_hf_token_and_pins_from_flags(
    hub: HubServer, dest: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    data = b"\x07" * 5000
    hub.add_repo("acme/private", {"model.safetensors": data}, private=True, tokens=("hf_env",))
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    pin = f"model.safetensors={hashlib.sha256(data).hexdigest()}"

    code = main(
        [
            "fetch",
            "acme/private",
            "--dest",
            str(dest),
            "--endpoint",
            hub.endpoint,
            "--sha256",
            pin,
            "--progress",
            "none",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0 and "hf_env" not in out and "verified" in out


def test_fetch_usage_errors_exit_2(dest: Path):
    with pytest.raises(SystemExit) as bad_pin:
        main(["fetch", "acme/x", "--dest", str(dest), "--sha256", "model.safetensors=zz"])
    assert bad_pin.value.code == 2


def test_verify_names_each_bad_file_and_repair_fixes_them(
    hub: HubServer, model: ModelRepo, dest: Path, capsys: pytest.CaptureFixture[str]
):
    main(
        ["fetch", model.repo, "--dest", str(dest), "--endpoint", hub.endpoint, "--progress", "none"]
    )
    data = bytearray((dest / SHARD).read_bytes())
    data[-1] ^= 0xFF
    (dest / SHARD).write_bytes(bytes(data))
    (dest / "README.md").unlink()
    capsys.readouterr()

    failed = main(["verify", str(dest), "--progress", "none"])
    err = capsys.readouterr().err
    repaired = main(["verify", str(dest), "--repair", "--progress", "none"])
    again = main(["verify", str(dest), "--progress", "json"])

    assert failed == 1 and SHARD in err and "README.md" in err and "sha256 mismatch" in err
    assert repaired == 0 and again == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["verified"] is True


def test_verify_without_manifest_fails_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["verify", str(tmp_path), "--progress", "none"]) == 1
    assert "ManifestMissing" in capsys.readouterr().err


def test_verify_starts_lean(hub: HubServer, model: ModelRepo, dest: Path):
    main(
        ["fetch", model.repo, "--dest", str(dest), "--endpoint", hub.endpoint, "--progress", "none"]
    )
    probe = (
        "import sys\n"
        "from modeldeploy.cli.main import main\n"
        f"code = main(['verify', {str(dest)!r}, '--progress', 'none'])\n"
        "heavy = sorted(m for m in ('huggingface_hub', 'pydantic', 'httpx2', 'torch', 'kopf',"
        " 'aiohttp', 'yaml') if m in sys.modules)\n"
        "print(code, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )

    assert result.stdout.strip().splitlines()[-1] == "0 []"


def test_fetch_endpoint_defaults_to_hf_endpoint(
    hub: HubServer, model: ModelRepo, dest: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)

    assert main(["fetch", model.repo, "--dest", str(dest), "--progress", "none"]) == 0
    assert hub.downloads()


def test_fetch_json_progress_into_a_closed_pipe_ends_quietly(
    hub: HubServer, model: ModelRepo, dest: Path
):
    """`modeldeploy fetch ... --progress json | head -1`: exit 141, nothing on stderr."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "modeldeploy", "fetch", model.repo, "--dest", str(dest),
             "--endpoint", hub.endpoint, "--progress", "json"],
            stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
    finally:
        os.close(writer)

    assert result.returncode == 141 and result.stderr == ""
    assert not (dest / ".modeldeploy" / "manifest.json").exists()
