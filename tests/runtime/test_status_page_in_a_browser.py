"""`GET /` is a page a person can watch: in a real headless chromium, fed live by
/status/stream, its progress bar moves during a throttled per-pod fetch and it reaches Ready,
or shows the failure with its reason, without a reload. Screenshots are kept as artifacts
(see headless_browser.keep_screenshot)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.runtime import servers, slow_link
from tests.runtime.headless_browser import Browser, chromium, keep_screenshot
from tests.support.hubserver import HubServer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
READ_PAGE = """(() => {
  const $ = (id) => document.getElementById(id);
  const cells = (id) => [...$(id).rows].map((r) => [...r.cells].map((c) => c.textContent));
  return {
    state: $("state").dataset.state, bar: $("bar").value, eta: $("eta").textContent,
    repo: $("repo").textContent, commit: $("commit").textContent,
    errorShown: !$("error").hidden, errorReason: $("error-reason").textContent,
    errorMessage: $("error-message").textContent, history: cells("history"),
    phases: cells("phases"), warmup: $("warmup").textContent,
    connection: $("connection").textContent, sameDocument: window.sameDocument === true,
  };
})()"""


async def watch(
    serve: servers.Serve, browser: str, tmp_path: Path, *, until: str, name: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Open the page before the download starts; read it every 0.1 s until `until`; keep a
    screenshot of the bar mid-way and one at the end."""
    async with Browser(browser, tmp_path / "chromium-profile") as page:
        await asyncio.to_thread(serve.wait_listening)
        await page.open(serve.url + "/")
        await page.evaluate("window.sameDocument = true")  # a reload would lose it
        samples: list[dict[str, Any]] = []
        mid_way = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while not samples or samples[-1]["state"] != until:
            assert loop.time() < deadline, f"the page never showed {until}: {samples[-1:]}"
            await asyncio.sleep(0.1)
            samples.append(await page.evaluate(READ_PAGE))
            if not mid_way and samples[-1]["state"] == "Fetching" and samples[-1]["bar"] > 0.3:
                keep_screenshot(
                    await page.screenshot(), tmp_path, f"status-page-{name}-fetching.png"
                )
                mid_way = True
        if until == "Failed":
            await asyncio.to_thread(serve.wait_exit)
        await asyncio.sleep(0.5)  # the stream has ended or goes on: the page keeps its report
        final = await page.evaluate(READ_PAGE)
        png = await page.screenshot()
    assert png.startswith(PNG_MAGIC)
    assert keep_screenshot(png, tmp_path, f"status-page-{name}.png").stat().st_size > 1000
    return samples, final


def bar_during_fetching(samples: list[dict[str, Any]]) -> list[float]:
    return [s["bar"] for s in samples if s["state"] == "Fetching"]


def test_the_page_follows_a_throttled_fetch_to_ready(tiny_lm: Path, tmp_path: Path) -> None:
    browser = chromium()
    with HubServer() as hub:
        commit = slow_link.host(hub, tiny_lm)
        slow_link.throttle(hub, tiny_lm, seconds=5)
        serve = servers.start(
            tmp_path / "model", tmp_path, "--repo", slow_link.REPO, "--endpoint", hub.endpoint
        )
        try:
            samples, final = asyncio.run(
                watch(serve, browser, tmp_path, until="Ready", name="ready")
            )
        finally:
            serve.stop()
    bar = bar_during_fetching(samples)
    assert bar == sorted(bar) and len({v for v in bar if 0 < v < 1}) >= 3, bar
    assert any(s["eta"].startswith("ready in about ") for s in samples if s["state"] == "Fetching")
    assert final["sameDocument"], "the page was reloaded"
    assert (final["state"], final["bar"], final["eta"]) == ("Ready", 1, "Ready: serving")
    assert (final["repo"], final["commit"]) == (slow_link.REPO, commit)
    assert [row[0] for row in final["history"]] == [
        "Starting", "Fetching", "Verifying", "Loading", "WarmingUp", "Ready",
    ]  # fmt: skip
    took = {row[0]: row[1] for row in final["phases"]}
    assert all(took[p] != "—" for p in ("Fetching", "Verifying", "Loading", "WarmingUp")), took
    assert final["warmup"].startswith("passed: 8 tokens in ")
    assert not final["errorShown"]


def test_the_page_shows_the_failure_with_its_reason(tiny_lm: Path, tmp_path: Path) -> None:
    browser = chromium()
    with HubServer() as hub:
        slow_link.host(hub, tiny_lm)
        slow_link.throttle(hub, tiny_lm, seconds=4)
        serve = servers.start(
            tmp_path / "model", tmp_path, "--repo", slow_link.REPO, "--endpoint", hub.endpoint,
            "--sha256", f"{slow_link.WEIGHTS}={'0' * 64}",
        )  # fmt: skip
        try:
            samples, final = asyncio.run(
                watch(serve, browser, tmp_path, until="Failed", name="failed")
            )
        finally:
            serve.stop()
    bar = bar_during_fetching(samples)
    assert len({v for v in bar if 0 < v < 1}) >= 2, bar
    assert final["sameDocument"], "the page was reloaded"
    assert final["state"] == "Failed" and final["errorShown"]
    assert final["errorReason"] == "ChecksumMismatch"
    assert slow_link.WEIGHTS in final["errorMessage"]
    assert final["history"][-1][0] == "Failed" and final["history"][-1][2] == "ChecksumMismatch"
    assert final["eta"] == "will not become ready (see the error below)"
    assert final["connection"].startswith("the runtime has stopped (Failed)")
