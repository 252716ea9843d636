"""Ask each runtime pod how it is doing: GET http://<pod IP>:<port>/status.

The status the operator writes is only as truthful as this: a pod the kubelet calls Ready
but whose runtime cannot be reached is reported `Unreachable`, never Ready. Short
timeouts and bounded concurrency keep a fleet of hung pods from stalling reconciles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp

from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners.observed import PodView, RuntimeReport

TIMEOUT_SECONDS = 2.0
MAX_BODY = 1 << 20
CONCURRENCY = 32


class RuntimeReporter:
    """One shared HTTP session for every /status request the operator makes."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(CONCURRENCY)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def reports(self, pods: Sequence[PodView], *, port: int) -> list[RuntimeReport]:
        """One report per pod, in order (concurrently)."""
        return list(await asyncio.gather(*(self.report(pod, port=port) for pod in pods)))

    async def report(self, pod: PodView, *, port: int) -> RuntimeReport:
        if not pod.ip or not pod.running:
            return RuntimeReport.unreachable(f"pod is {pod.phase}; its runtime is not running")
        if not self._settings.may_poll(pod.ip):
            return RuntimeReport.unreachable(
                f"pod IP {pod.ip} is outside the allowed status networks"
            )
        host = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
        async with self._limit:
            try:
                async with self._client().get(f"http://{host}:{port}/status") as response:
                    if response.status != 200:
                        return RuntimeReport.unreachable(f"/status answered HTTP {response.status}")
                    body = await response.content.read(MAX_BODY)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return RuntimeReport.unreachable(
                    f"GET /status failed: {type(exc).__name__}: {exc}".rstrip(": ")
                )
        return _parse(body)


def _parse(body: bytes) -> RuntimeReport:
    import json

    try:
        doc = json.loads(body)
    except ValueError:
        return RuntimeReport.unreachable("/status did not answer JSON")
    if not isinstance(doc, dict):
        return RuntimeReport.unreachable("/status did not answer a JSON object")
    return RuntimeReport.from_json(doc)
