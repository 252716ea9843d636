"""Before Ready, `/v1/*` answers 503 with a `Retry-After` estimated from the real progress and
rate of the phases left, and the body says the state and the estimate. Watched on a throttled
per-pod fetch: each estimate is within a factor of 2 of the time Ready really took to come."""

from __future__ import annotations

import time
from pathlib import Path

from tests.runtime import servers, slow_link
from tests.runtime.http_answers import Answer, ask, transition_time
from tests.support.hubserver import HubServer

DOWNLOAD_SECONDS = 8.0
PHASES_AFTER_FETCHING = ["Fetching", "Verifying", "Loading", "WarmingUp"]


def answers_along_the_download(serve: servers.Serve) -> list[Answer]:
    """Ask while the download runs, from once its rate has been seen to before its last
    seconds (the ETA of the phases after it is then most of the wait, and mostly assumed)."""
    answers: list[Answer] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = serve.get("/status").json()
        if status["state"] not in ("Starting", "Fetching") or status["progress"] > 0.6:
            break
        if status["state"] == "Fetching" and status["progress"] >= 0.1:
            answers.append(ask(serve, "GET", "/v1/models"))
            answers.append(ask(serve, "POST", "/v1/completions", {"prompt": "hi"}))
            time.sleep(1.0)
        else:
            time.sleep(0.1)
    return answers


def test_retry_after_is_within_a_factor_of_two_of_the_real_wait(
    tiny_lm: Path, tmp_path: Path
) -> None:
    with HubServer() as hub:
        slow_link.host(hub, tiny_lm)
        slow_link.throttle(hub, tiny_lm, seconds=DOWNLOAD_SECONDS)
        serve = servers.start(
            tmp_path / "model", tmp_path, "--repo", slow_link.REPO, "--endpoint", hub.endpoint
        )
        try:
            serve.wait_listening()
            answers = answers_along_the_download(serve)
            status = serve.wait_state("Ready")
        finally:
            serve.stop()
    ready_at = transition_time(status, "Ready")
    assert len(answers) >= 4, "the download was never watched"
    for answer in answers:
        real = ready_at - answer.asked_at
        assert answer.status == 503
        assert answer.retry_after is not None, answer.headers
        assert real / 2 <= answer.retry_after <= real * 2, (answer.retry_after, real)


def test_the_503_body_carries_the_state_and_the_estimate(tiny_lm: Path, tmp_path: Path) -> None:
    with HubServer() as hub:
        slow_link.host(hub, tiny_lm)
        slow_link.throttle(hub, tiny_lm, seconds=30)
        serve = servers.start(
            tmp_path / "model", tmp_path, "--repo", slow_link.REPO, "--endpoint", hub.endpoint
        )
        try:
            serve.wait_listening()
            deadline = time.monotonic() + 60
            while serve.get("/status").json()["progress"] < 0.05:
                assert time.monotonic() < deadline, serve.log()
                time.sleep(0.1)
            answer = ask(serve, "POST", "/v1/completions", {"prompt": "hi"})
            status = serve.get("/status").json()
        finally:
            serve.stop()
    error = answer.json()["error"]
    assert answer.status == 503 and error["type"] == "service_unavailable"
    assert error["message"].startswith("the model is not ready (state Fetching); ready in about")
    assert error["state"] == "Fetching" and 0 < error["progress"] < 1
    assert answer.retry_after is not None and answer.retry_after >= 1
    assert error["retryAfterSeconds"] == answer.retry_after
    assert 0 < error["etaSeconds"] <= error["retryAfterSeconds"]
    assert [p["state"] for p in error["phases"]] == PHASES_AFTER_FETCHING
    assert error["phases"][0]["basis"] == "measured"
    assert all(p["seconds"] > 0 for p in error["phases"])
    # /status carries the same estimate, and names the repo it fetches before any manifest
    assert status["eta"]["retryAfterSeconds"] >= 1
    assert [p["state"] for p in status["eta"]["phases"]] == PHASES_AFTER_FETCHING
    assert status["model"]["repo"] == slow_link.REPO and status["revision"] == "main"
    assert status["queue"] == {"waiting": 0, "maxQueue": 64, "queueWhileLoadingSeconds": 0.0}
