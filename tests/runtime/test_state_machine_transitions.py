"""The state machine: legal paths work, illegal moves raise, history and progress are honest."""

from __future__ import annotations

import threading

import pytest

from modeldeploy.runtime.state import IllegalTransitionError, Reason, Snapshot, State, StateMachine


def test_full_path_to_ready_records_history_with_times() -> None:
    machine = StateMachine()
    for state in (State.FETCHING, State.VERIFYING, State.LOADING, State.WARMING_UP, State.READY):
        machine.transition(state)
    snap = machine.snapshot()
    assert [t.state for t in snap.history] == [
        State.STARTING,
        State.FETCHING,
        State.VERIFYING,
        State.LOADING,
        State.WARMING_UP,
        State.READY,
    ]
    assert all(a.at <= b.at for a, b in zip(snap.history, snap.history[1:], strict=False))
    assert snap.progress == 1.0
    assert set(snap.durations) == {"Starting", "Fetching", "Verifying", "Loading", "WarmingUp"}


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((), State.READY),  # Ready straight from Starting: the lie this project prevents
        ((), State.WARMING_UP),
        ((State.VERIFYING,), State.FETCHING),
        ((State.VERIFYING, State.LOADING), State.VERIFYING),
        ((State.LOADING, State.READY), State.LOADING),
        ((State.LOADING, State.READY, State.DRAINING), State.READY),
        ((State.LOADING,), State.LOADING),
    ],
)
def test_illegal_transitions_raise(path: tuple[State, ...], illegal: State) -> None:
    machine = StateMachine()
    for state in path:
        machine.transition(state)
    with pytest.raises(IllegalTransitionError, match=f"-> {illegal.value}"):
        machine.transition(illegal)
    assert machine.state is (path[-1] if path else State.STARTING)


def test_failed_is_terminal_and_keeps_the_reason() -> None:
    machine = StateMachine()
    machine.transition(State.VERIFYING)
    machine.fail(Reason.SIZE_MISMATCH, "/m/model.safetensors: size mismatch")
    snap = machine.snapshot()
    assert snap.state is State.FAILED
    assert snap.error is not None and snap.error.reason == "SizeMismatch"
    assert snap.history[-1].message == "/m/model.safetensors: size mismatch"
    for target in State:
        with pytest.raises(IllegalTransitionError):
            machine.transition(target)
    assert machine.drain() is False
    assert machine.fail_if_live(Reason.DEVICE_FAULT, "again") is False


def test_drain_is_allowed_from_every_live_state() -> None:
    for stop_at in (State.STARTING, State.VERIFYING, State.LOADING, State.WARMING_UP, State.READY):
        machine = StateMachine()
        for state in (State.VERIFYING, State.LOADING, State.WARMING_UP, State.READY):
            if machine.state is stop_at:
                break
            machine.transition(state)
        assert machine.drain() is True
        assert machine.state is State.DRAINING
        assert machine.drain() is False


def test_progress_only_grows_within_a_phase_and_resets_on_the_next() -> None:
    machine = StateMachine()
    machine.transition(State.VERIFYING)
    machine.transition(State.LOADING)
    machine.set_progress(0.5, bytesDone=5)
    with pytest.raises(ValueError, match="went back"):
        machine.set_progress(0.4)
    with pytest.raises(ValueError, match="outside"):
        machine.set_progress(1.5)
    machine.raise_progress(0.3)  # a late, lower report from another thread is ignored
    assert machine.snapshot().progress == 0.5
    machine.transition(State.WARMING_UP)
    assert machine.snapshot().progress == 0.0
    assert machine.snapshot().detail == {}


def test_subscribers_see_every_change() -> None:
    machine = StateMachine()
    seen: list[Snapshot] = []
    unsubscribe = machine.subscribe(seen.append)
    machine.transition(State.LOADING)
    machine.set_progress(0.25)
    machine.set_progress(0.75)
    machine.transition(State.READY)
    unsubscribe()
    machine.drain()
    assert [(s.state.value, s.progress) for s in seen] == [
        ("Loading", 0.0),
        ("Loading", 0.25),
        ("Loading", 0.75),
        ("Ready", 1.0),
    ]


def test_concurrent_progress_and_reads_stay_consistent() -> None:
    machine = StateMachine()
    machine.transition(State.LOADING)
    errors: list[BaseException] = []

    def report(worker: int) -> None:
        try:
            for step in range(1, 501):
                machine.raise_progress(step / 500, worker=worker)
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=report, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    last = 0.0
    while any(t.is_alive() for t in threads):
        now = machine.snapshot().progress
        assert now >= last
        last = now
    assert not errors
    assert machine.snapshot().progress == 1.0
