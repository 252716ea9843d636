"""The estimate until Ready follows what was measured (the download rate, the read rate, the
progress of a phase) and says which figures are assumed; it never invents a figure for a
download whose size is not known yet. Driven through the real state machine on a test clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.runtime import eta
from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.state import State, StateMachine


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def runtime(clock: Clock, tmp_path: Path, **config: object) -> tuple[StateMachine, eta.Eta]:
    machine = StateMachine(clock=clock)
    settings = RuntimeConfig(tmp_path, repo="acme/m", **config)  # type: ignore[arg-type]
    return machine, eta.Eta(machine, settings, clock=clock)


def estimate(machine: StateMachine, estimator: eta.Eta, weights: int = 0) -> eta.Estimate:
    found = estimator.estimate(machine.snapshot(), weight_bytes=weights)
    assert found is not None
    return found


def seconds_of(found: eta.Estimate, state: State) -> float | None:
    return next(p.seconds for p in found.phases if p.state is state)


def test_no_figure_before_the_download_size_is_known(clock: Clock, tmp_path: Path) -> None:
    machine, estimator = runtime(clock, tmp_path)
    machine.transition(State.FETCHING)
    machine.raise_progress(0.0, bytesDone=0, bytesTotal=0)  # the fetcher is resolving
    found = estimate(machine, estimator)
    assert found.seconds is None and found.retry_after == eta.UNKNOWN_RETRY_SECONDS
    assert found.phases[0].basis == "unknown"


def test_the_download_part_is_bytes_left_over_the_rate(clock: Clock, tmp_path: Path) -> None:
    machine, estimator = runtime(clock, tmp_path)
    machine.transition(State.FETCHING)
    machine.raise_progress(0.25, bytesDone=250e6, bytesTotal=1e9, bytesPerSecond=50e6)
    fast = estimate(machine, estimator)
    machine.raise_progress(0.25, bytesPerSecond=25e6)
    slow = estimate(machine, estimator)
    assert seconds_of(fast, State.FETCHING) == pytest.approx(15.0)
    assert seconds_of(slow, State.FETCHING) == pytest.approx(30.0)
    assert fast.phases[0].basis == "measured"
    assert [p.state for p in fast.phases] == [
        State.FETCHING, State.VERIFYING, State.LOADING, State.WARMING_UP,
    ]  # fmt: skip
    rest = sum(p.seconds or 0 for p in fast.phases[1:])
    assert fast.seconds == pytest.approx(15.0 + rest)
    # the weights still to load are the download's: 1 GB at the assumed read rate
    expected_load = eta.LOAD_OVERHEAD_SECONDS + 1e9 / eta.ASSUMED_READ_BYTES_PER_SECOND
    assert seconds_of(fast, State.LOADING) == pytest.approx(expected_load)


def test_a_stalled_download_falls_back_to_its_average_rate(clock: Clock, tmp_path: Path) -> None:
    machine, estimator = runtime(clock, tmp_path)
    machine.transition(State.FETCHING)
    machine.raise_progress(0.1, bytesDone=100e6, bytesTotal=1e9, bytesPerSecond=50e6)
    clock.now += 10
    machine.raise_progress(0.3, bytesDone=300e6, bytesPerSecond=0.0)  # nothing in 5 s
    clock.now += 10  # 200 MB in 20 s since the first bytes: 10 MB/s
    assert seconds_of(estimate(machine, estimator), State.FETCHING) == pytest.approx(70.0)


def test_loading_uses_the_read_rate_measured_since_the_first_byte(
    clock: Clock, tmp_path: Path
) -> None:
    machine, estimator = runtime(clock, tmp_path)
    machine.transition(State.VERIFYING)
    machine.transition(State.LOADING)
    machine.raise_progress(0.0, step="loading tokenizer")
    clock.now += 5  # the tokenizer's seconds are no read rate
    machine.set_progress(0.1, bytesDone=100e6, bytesTotal=1e9)
    clock.now += 2
    machine.set_progress(0.3, bytesDone=300e6, bytesTotal=1e9)  # 100 MB/s
    found = estimate(machine, estimator)
    assert found.phases[0].basis == "measured"
    assert seconds_of(found, State.LOADING) == pytest.approx(7.0 + eta.LOAD_OVERHEAD_SECONDS)


def test_warm_up_is_the_typical_time_less_what_has_run(clock: Clock, tmp_path: Path) -> None:
    machine, estimator = runtime(clock, tmp_path)
    for state in (State.VERIFYING, State.LOADING, State.WARMING_UP):
        machine.transition(state)
    clock.now += eta.TYPICAL_WARMUP_SECONDS / 4
    found = estimate(machine, estimator)
    assert found.seconds == pytest.approx(eta.TYPICAL_WARMUP_SECONDS * 3 / 4)
    assert found.phases[0].basis == "assumed" and found.retry_after == 1
    clock.now += eta.TYPICAL_WARMUP_SECONDS * 10  # longer than typical: still running
    assert estimate(machine, estimator).seconds == eta.MIN_PHASE_SECONDS


def test_a_full_verify_counts_the_bytes_at_the_measured_hash_rate(
    clock: Clock, tmp_path: Path
) -> None:
    machine, estimator = runtime(clock, tmp_path, verify="full", warmup=False)
    assert estimator.hash_rate is not None and estimator.hash_rate > 1e6
    machine.transition(State.VERIFYING)
    found = estimate(machine, estimator, weights=int(estimator.hash_rate * 3))
    assert seconds_of(found, State.VERIFYING) == pytest.approx(3.0)
    assert [p.state for p in found.phases] == [State.VERIFYING, State.LOADING]  # no warm-up
    clock.now += 4  # then the phase's own progress rules: 40 % in 4 s
    machine.raise_progress(0.4)
    assert seconds_of(estimate(machine, estimator), State.VERIFYING) == pytest.approx(6.0)


@pytest.mark.parametrize("end", ["ready", "failed", "draining"])
def test_nothing_to_wait_for_outside_the_road_to_ready(
    end: str, clock: Clock, tmp_path: Path
) -> None:
    machine, estimator = runtime(clock, tmp_path)
    if end == "ready":
        for state in (State.VERIFYING, State.LOADING, State.READY):
            machine.transition(state)
    elif end == "failed":
        machine.fail("FileMissing", "gone")
    else:
        machine.drain()
    assert estimator.estimate(machine.snapshot()) is None


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert eta.Estimate(0.01, ()).retry_after == 1
    assert eta.Estimate(4.2, ()).retry_after == 5
    assert eta.Estimate(None, ()).retry_after == eta.UNKNOWN_RETRY_SECONDS
