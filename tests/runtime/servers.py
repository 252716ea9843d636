"""Run `modeldeploy serve` as a real subprocess on a free loopback port and talk HTTP to it.

Tests observe the runtime only from outside (status codes, JSON, SSE, exit code, the
termination-log file), the way kubelet and the operator do.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.runtime.slow_storage import LAUNCHER
from tests.support.net import free_port

SERVE = [sys.executable, "-m", "modeldeploy", "serve"]
REPO_ROOT = Path(__file__).resolve().parents[2]
# Settings of the developer's shell that must not reach a test runtime: a real token or hub
# endpoint, and proxies (without NO_PROXY, loopback traffic to the test hub would go through
# them). tests/hub/conftest.py clears the same for the fetcher tests.
STRIPPED_ENV = (
    "HF_TOKEN",
    "HF_ENDPOINT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


# The tests' own requests go straight to the loopback server, whatever proxy the shell has.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def urlopen(request: urllib.request.Request | str, *, timeout: float) -> Any:
    """`urllib.request.urlopen` without proxies (all test traffic is loopback)."""
    return _DIRECT.open(request, timeout=timeout)


@dataclass
class Reply:
    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Serve:
    """One `modeldeploy serve` process. Use `start(...)`; `stop()` ends it if still running."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    termination_log: Path
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 30.0,
        raw: bytes | None = None,
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        started = time.perf_counter()
        try:
            with urlopen(req, timeout=timeout) as resp:
                return Reply(resp.status, resp.read(), time.perf_counter() - started)
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read(), time.perf_counter() - started)

    def get(self, path: str, *, timeout: float = 30.0) -> Reply:
        return self.request("GET", path, timeout=timeout)

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None) -> Reply:
        return self.request("POST", path, body, raw=raw)

    def wait_listening(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"serve exited early ({self.process.returncode}):\n{self.log()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise AssertionError(f"serve never listened on {self.port}:\n{self.log()}")

    def wait_state(self, *states: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited ({self.process.returncode}):\n{self.log()}")
            try:
                doc = self.get("/status", timeout=5).json()
            except OSError:
                time.sleep(0.05)
                continue
            if doc["state"] in states:
                return doc
            time.sleep(0.05)
        raise AssertionError(f"state never became {states}; last {doc}\n{self.log()}")

    def wait_exit(self, timeout: float = 60.0) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not exit in {timeout}s:\n{self.log()}") from None

    def sigterm(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stream(
        self, path: str = "/status/stream", *, timeout: float = 120.0
    ) -> Iterator[dict[str, Any]]:
        """Yield each SSE `data:` payload (parsed JSON) until the server closes the stream."""
        with urlopen(self.url + path, timeout=timeout) as resp:
            for raw in resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: ") and line != "data: [DONE]":
                    yield json.loads(line[len("data: ") :])

    def record_stream(self) -> threading.Thread:
        """Collect /status/stream events into `self.events` on a thread (until it closes)."""

        def collect() -> None:
            try:
                for event in self.stream():
                    self.events.append(event)
            except OSError:
                pass

        thread = threading.Thread(target=collect, daemon=True)
        thread.start()
        return thread


def child_environment() -> dict[str, str]:
    """This process's environment, minus hub and proxy settings, loopback never proxied."""
    kept = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    no_proxy = "127.0.0.1,localhost"
    return {
        **kept,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def start(
    model_dir: Path,
    tmp: Path,
    *args: str,
    env: dict[str, str] | None = None,
    slow_storage: float | None = None,
) -> Serve:
    """Start `modeldeploy serve --model-dir model_dir` on a free port (failure linger 0.5 s).

    `slow_storage`: seconds added to every tensor read (see `slow_storage.py`).
    """
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    log_path, termination = tmp / f"serve-{port}.log", tmp / f"termination-{port}.log"
    command = SERVE
    if slow_storage is not None:
        launcher = LAUNCHER.format(root=str(REPO_ROOT), delay=slow_storage)
        command = [sys.executable, "-c", launcher, "serve"]
    argv = [
        *command,
        "--model-dir", str(model_dir),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--termination-log", str(termination),
        "--failure-linger", "0.5",
        *args,
    ]  # fmt: skip
    child_env = {**child_environment(), **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=child_env, cwd=tmp
        )
    return Serve(process=process, port=port, log_path=log_path, termination_log=termination)
