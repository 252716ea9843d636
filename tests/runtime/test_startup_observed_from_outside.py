"""Probes, /status and the SSE stream watched from outside while a ~40 MB model starts.

The runtime must never say Ready early: /readyz is 200 exactly when the state is Ready, which
comes only after Loading and WarmingUp; /livez stays 200 throughout (loading is not a fault);
Loading shows real, monotonic byte progress.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.runtime import servers

ORDER = ["Starting", "Fetching", "Verifying", "Loading", "WarmingUp", "Ready"]


@dataclass
class Observation:
    probes: list[tuple[str, int, str, float]]  # path, status, state in the body, seconds
    events: list[dict[str, Any]]
    final: dict[str, Any]
    metrics_before: str
    metrics_after: str


@pytest.fixture(scope="module")
def observed(loading_lm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observation]:
    # 50 ms per tensor: Loading lasts ~1.5 s, as from a network volume (see slow_storage.py)
    serve = servers.start(loading_lm, tmp_path_factory.mktemp("startup"), slow_storage=0.05)
    try:
        serve.wait_listening()
        stream = serve.record_stream()
        metrics_before = serve.get("/metrics").body.decode()
        probes: list[tuple[str, int, str, float]] = []
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                for path in ("/livez", "/readyz", "/startupz"):
                    reply = serve.get(path, timeout=10)
                    probes.append((path, reply.status, reply.json()["state"], reply.seconds))
                done.wait(0.01)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        final = serve.wait_state("Ready")
        done.set()
        poller.join()
        metrics_after = serve.get("/metrics").body.decode()
        serve.stop()
        stream.join(timeout=10)
        yield Observation(probes, serve.events, final, metrics_before, metrics_after)
    finally:
        serve.stop()


def test_history_follows_the_start_up_path(observed: Observation) -> None:
    states = [h["state"] for h in observed.final["history"]]
    assert states == ["Starting", "Verifying", "Loading", "WarmingUp", "Ready"]
    assert observed.final["verified"] is True
    assert observed.final["warmup"]["ok"] is True and observed.final["warmup"]["tokens"] >= 1
    assert observed.final["error"] is None
    timings = observed.final["timings"]
    assert timings["loadSeconds"] > 0 and timings["warmupSeconds"] > 0
    assert timings["startupSeconds"] >= timings["loadSeconds"] + timings["warmupSeconds"]


def test_readyz_is_200_exactly_when_ready(observed: Observation) -> None:
    readyz = [(status, state) for path, status, state, _ in observed.probes if path == "/readyz"]
    assert any(state == "Loading" for _, state in readyz), "loading was never observed"
    assert all((status == 200) == (state == "Ready") for status, state in readyz)
    startupz = [(s, st) for p, s, st, _ in observed.probes if p == "/startupz"]
    assert all((status == 200) == (state == "Ready") for status, state in startupz)


def test_livez_stays_up_while_loading(observed: Observation) -> None:
    livez = [status for path, status, _, _ in observed.probes if path == "/livez"]
    assert livez and set(livez) == {200}


def test_probes_never_stall(observed: Observation) -> None:
    seconds = sorted(s for *_, s in observed.probes)
    assert seconds[-1] < 2.0, f"slowest probe {seconds[-1]:.3f}s"


def test_stream_pushes_states_in_order(observed: Observation) -> None:
    states = [e["state"] for e in observed.events]
    ranks = [ORDER.index(s) for s in states if s in ORDER]
    assert ranks == sorted(ranks), states
    assert {"Loading", "WarmingUp", "Ready"} <= set(states)
    assert states[-1] in ("Ready", "Draining")


def test_loading_progress_is_real_and_monotonic(observed: Observation) -> None:
    loading = [e for e in observed.events if e["state"] == "Loading"]
    values = [e["progress"] for e in loading]
    assert values == sorted(values)
    inside = {v for v in values if 0.0 < v < 1.0}
    assert len(inside) >= 3, f"too few intermediate progress events: {values}"
    last = loading[-1]
    assert last["progress"] == 1.0
    assert last["progressDetail"]["bytesDone"] == last["progressDetail"]["bytesTotal"] > 30e6


def test_metrics_follow_the_state(observed: Observation) -> None:
    assert 'modeldeploy_state{state="Ready"} 0.0' in observed.metrics_before
    assert 'modeldeploy_state{state="Ready"} 1.0' in observed.metrics_after
    assert 'modeldeploy_phase_duration_seconds_count{phase="Loading"} 1.0' in observed.metrics_after
    assert "modeldeploy_warmup_latency_seconds" in observed.metrics_after
    loaded = [
        line
        for line in observed.metrics_after.splitlines()
        if line.startswith("modeldeploy_load_bytes ")
    ]
    assert loaded and float(loaded[0].split()[1]) > 30e6
