"""A real browser for the status page: Debian's chromium, headless, driven over the DevTools
protocol on loopback with aiohttp's websocket client (no browser-automation dependency).

`hack/system-deps.sh` installs chromium (hack/setup.sh runs it); where it is missing the test
cannot run: a skip with the reason, which under CI is a failure (tests/support/skips.py).

Screenshots are test artifacts: `keep_screenshot` writes them under the test's tmp dir and,
when MODELDEPLOY_ARTIFACTS names a directory, copies them there too (.ci/run sets it to
.ci/artifacts).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from tests.support import skips

NAMES = ("chromium", "chromium-browser")
ARTIFACTS_ENV = "MODELDEPLOY_ARTIFACTS"
START_SECONDS = 60.0
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # tests run as root in CI containers; the pages are our own, on loopback
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--no-proxy-server",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1100,1100",
)


def chromium() -> str:
    """The chromium executable, or `cannot_run` (a failure under CI) naming how to get it."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    skips.cannot_run("needs chromium (hack/system-deps.sh installs it)")


def keep_screenshot(png: bytes, tmp_path: Path, name: str) -> Path:
    """Write `name` under `tmp_path` (and copy it to $MODELDEPLOY_ARTIFACTS when set)."""
    path = tmp_path / name
    path.write_bytes(png)
    artifacts = os.environ.get(ARTIFACTS_ENV)
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / name)
    return path


class Browser:
    """One headless chromium with one page; `async with Browser(...) as page:`."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.executable = executable
        self.profile = profile
        self.process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Browser:
        self.profile.mkdir(parents=True, exist_ok=True)
        with (self.profile.parent / "chromium.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                self.executable,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                "about:blank",
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            port = await self._debugging_port()
            self._session = aiohttp.ClientSession()
            self._socket = await self._session.ws_connect(
                await self._page_socket(port), max_msg_size=0
            )
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._session is not None:
            await self._session.close()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def _debugging_port(self) -> int:
        """Chromium writes the port it chose to DevToolsActivePort in its profile."""
        marker = self.profile / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_SECONDS
        while loop.time() < deadline:
            assert self.process is not None
            if self.process.returncode is not None:
                log = (self.profile.parent / "chromium.log").read_text(errors="replace")
                raise AssertionError(f"chromium exited ({self.process.returncode}):\n{log}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(marker.read_text().splitlines()[0])
            await asyncio.sleep(0.05)
        raise AssertionError(f"chromium did not open its DevTools port in {START_SECONDS} s")

    async def _page_socket(self, port: int) -> str:
        assert self._session is not None
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result (events arriving meanwhile are ignored)."""
        assert self._socket is not None
        ident = next(self._ids)
        await self._socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await self._socket.receive_str(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    async def open(self, url: str) -> None:
        """Navigate and wait until the document (and its inline script) has run."""
        await self.call("Page.navigate", url=url)
        loaded = f"document.readyState === 'complete' && location.href === {json.dumps(url)}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await self.evaluate(loaded):
            assert loop.time() < deadline, f"{url} never finished loading"
            await asyncio.sleep(0.05)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self) -> bytes:
        result = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(result["data"])
