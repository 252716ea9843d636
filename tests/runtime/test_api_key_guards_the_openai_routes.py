"""`serve --api-key-file PATH`: every `/v1` request needs `Authorization: Bearer <key>` (401 in
OpenAI's shape with `WWW-Authenticate: Bearer` otherwise); probes, `/status`, `/metrics` and
the status page stay open; the key is in none of /status, the page, the logs, the process's
arguments or environment; a rotated Secret (kubelet swaps the `..data` link) applies without a
restart; a refused request never waits for Ready; an empty key file stops `serve` at once."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.runtime import servers

KEY = "sk-first-7c1d0a9e"
ROTATED = "sk-second-5b2f88d4"
COMPLETION = {"prompt": "hello", "max_tokens": 2}
OPEN_PATHS = ["/livez", "/readyz", "/startupz", "/status", "/metrics", "/"]


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes


def call(
    serve: servers.Serve,
    method: str,
    path: str,
    body: Any = None,
    *,
    authorization: str | None = None,
) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(serve.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with servers.urlopen(request, timeout=60) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers, exc.read())


class SecretVolume:
    """A directory laid out as kubelet mounts a Secret: `api-key` -> `..data/api-key`,
    `..data` -> a timestamped directory; an update swaps `..data` atomically."""

    def __init__(self, root: Path, value: str) -> None:
        self.root = root
        root.mkdir(parents=True)
        self._version = 0
        self.write(value)
        (root / "api-key").symlink_to("..data/api-key")

    @property
    def path(self) -> Path:
        return self.root / "api-key"

    def write(self, value: str) -> None:
        self._version += 1
        version = self.root / f"..2025_01_0{self._version}"
        version.mkdir()
        (version / "api-key").write_text(value + "\n")
        link = self.root / "..data_tmp"
        link.symlink_to(version.name)
        os.replace(link, self.root / "..data")


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> SecretVolume:
    return SecretVolume(tmp_path_factory.mktemp("secret") / "api-key", KEY)


@pytest.fixture(scope="module")
def guarded(
    tiny_lm: Path, secret: SecretVolume, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.Serve]:
    """A runtime that is still Loading for a few seconds, then Ready, with a key."""
    serve = servers.start(
        tiny_lm,
        tmp_path_factory.mktemp("guarded"),
        "--api-key-file", str(secret.path),
        "--queue-while-loading", "60",
        "--max-queue", "1",
        slow_storage=0.25,
    )  # fmt: skip
    try:
        yield serve
    finally:
        serve.stop()


def test_a_request_without_the_key_is_refused_at_once_even_before_ready(
    guarded: servers.Serve,
) -> None:
    guarded.wait_state("Loading", timeout=60)
    started = time.monotonic()
    answers = [call(guarded, "POST", "/v1/completions", COMPLETION) for _ in range(3)]
    assert time.monotonic() - started < 5  # neither waited for Ready nor hit --max-queue 1
    assert [a.status for a in answers] == [401, 401, 401]
    assert guarded.get("/status").json()["state"] == "Loading"


def test_no_key_or_a_wrong_key_is_401_in_openais_shape(guarded: servers.Serve) -> None:
    guarded.wait_state("Ready")
    for authorization in (None, "Bearer sk-wrong", f"Basic {KEY}", "Bearer", f"Bearer {KEY}x"):
        answer = call(guarded, "POST", "/v1/completions", COMPLETION, authorization=authorization)
        assert answer.status == 401, authorization
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        error = json.loads(answer.body)["error"]
        assert error["type"] == "invalid_request_error"
        assert error["code"] == "invalid_api_key"
        assert error["message"]
        assert KEY not in answer.body.decode() and "sk-wrong" not in answer.body.decode()
    for path in ("/v1/models", "/v1", "/v1/no-such-route"):
        assert call(guarded, "GET", path).status == 401, path


def test_the_right_key_is_served(guarded: servers.Serve) -> None:
    guarded.wait_state("Ready")
    bearer = f"Bearer {KEY}"
    answer = call(guarded, "POST", "/v1/completions", COMPLETION, authorization=bearer)
    assert answer.status == 200, answer.body
    assert call(guarded, "GET", "/v1/models", authorization=f"bearer  {KEY} ").status == 200


def test_probes_status_metrics_and_the_page_need_no_key(guarded: servers.Serve) -> None:
    guarded.wait_state("Ready")
    for path in OPEN_PATHS:
        assert call(guarded, "GET", path).status == 200, path
    metrics = guarded.get("/metrics").body.decode()
    assert 'status="401"' in metrics  # refused requests are still counted


def test_the_key_is_nowhere_to_be_read(guarded: servers.Serve) -> None:
    guarded.wait_state("Ready")
    call(guarded, "GET", "/v1/models", authorization="Bearer sk-wrong-guess")
    pid = guarded.process.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"--api-key-file" in cmdline  # the path travels, never the key
    for where, text in {
        "argv": cmdline,
        "environment": environ,
        "/status": guarded.get("/status").body,
        "status page": guarded.get("/").body,
        "/metrics": guarded.get("/metrics").body,
        "log": guarded.log().encode(),
    }.items():
        assert KEY.encode() not in text, where
        assert b"sk-wrong-guess" not in text, where


def test_a_rotated_key_applies_without_a_restart(
    guarded: servers.Serve, secret: SecretVolume
) -> None:
    guarded.wait_state("Ready")
    assert call(guarded, "GET", "/v1/models", authorization=f"Bearer {KEY}").status == 200
    secret.write(ROTATED)
    assert call(guarded, "GET", "/v1/models", authorization=f"Bearer {KEY}").status == 401
    assert call(guarded, "GET", "/v1/models", authorization=f"Bearer {ROTATED}").status == 200
    secret.write("   \n")  # a bad update keeps the last good key
    assert call(guarded, "GET", "/v1/models", authorization=f"Bearer {ROTATED}").status == 200
    log = guarded.log()
    assert f"{secret.path}: the API key file is empty; keeping the last good API key" in log
    assert ROTATED not in log
    assert guarded.process.poll() is None


@pytest.mark.parametrize("content", ["", "  \n\t\n"])
def test_an_empty_key_file_stops_serve_before_it_listens(
    tiny_lm: Path, tmp_path: Path, content: str
) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text(content)
    serve = servers.start(tiny_lm, tmp_path, "--api-key-file", str(key_file))
    code = serve.wait_exit(timeout=60)
    assert code != 0
    assert f"--api-key-file: {key_file}: the API key file is empty" in serve.log()


def test_a_missing_key_file_stops_serve_naming_the_path(tiny_lm: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "absent" / "api-key"
    serve = servers.start(tiny_lm, tmp_path, "--api-key-file", str(key_file))
    assert serve.wait_exit(timeout=60) != 0
    assert f"{key_file}: cannot read the API key file (No such file or directory)" in serve.log()
