"""Polling runtimes over HTTP on loopback: answers, silence, and networks not allowed."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners.observed import PodView
from modeldeploy.operator.runtime_reports import RuntimeReporter
from tests.operator.unit.builders import pod, runtime_status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve(doc: object, status: int = 200) -> tuple[web.AppRunner, int, list[str]]:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response(doc, status=status)

    app = web.Application()
    app.router.add_get("/status", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port, seen


def test_ready_runtime_is_read_from_its_status() -> None:
    async def scenario() -> None:
        runner, port, seen = await _serve(runtime_status("Ready", progress=1.0))
        reporter = RuntimeReporter(Settings(status_networks=("127.0.0.0/8",)))
        try:
            report = await reporter.report(PodView.from_pod(pod("p", ip="127.0.0.1")), port=port)
        finally:
            await reporter.close()
            await runner.cleanup()
        assert report.reachable and report.state == "Ready" and seen == ["/status"]

    asyncio.run(scenario())


def test_nobody_listening_is_unreachable() -> None:
    async def scenario() -> None:
        reporter = RuntimeReporter(Settings())
        try:
            report = await reporter.report(
                PodView.from_pod(pod("p", ip="127.0.0.1")), port=_free_port()
            )
        finally:
            await reporter.close()
        assert not report.reachable and report.state == "Unreachable"

    asyncio.run(scenario())


def test_error_status_and_garbage_are_unreachable() -> None:
    async def scenario() -> None:
        runner, port, _ = await _serve({"state": "Ready"}, status=500)
        reporter = RuntimeReporter(Settings())
        try:
            report = await reporter.report(PodView.from_pod(pod("p", ip="127.0.0.1")), port=port)
        finally:
            await reporter.close()
            await runner.cleanup()
        assert not report.reachable and "HTTP 500" in (report.message or "")

    asyncio.run(scenario())


def test_pod_outside_the_allowed_networks_is_never_contacted() -> None:
    async def scenario() -> None:
        runner, port, seen = await _serve(runtime_status("Ready"))
        reporter = RuntimeReporter(Settings(status_networks=("10.244.0.0/16",)))
        try:
            report = await reporter.report(PodView.from_pod(pod("p", ip="127.0.0.1")), port=port)
        finally:
            await reporter.close()
            await runner.cleanup()
        assert not report.reachable and seen == []

    asyncio.run(scenario())


def test_pods_without_a_running_container_are_not_asked() -> None:
    async def scenario() -> None:
        reporter = RuntimeReporter(Settings())
        report = await reporter.report(PodView.from_pod(pod("p", running=False, ip=None)), port=1)
        await reporter.close()
        assert not report.reachable

    asyncio.run(scenario())
