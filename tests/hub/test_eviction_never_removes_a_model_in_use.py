"""Eviction against the processes that race it: a model marked in use, or locked by a fetch,
at any point before its directory is renamed away, stays; one marked after is reported gone.
The interleavings are forced with the eviction's step hook and child processes, not timing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from modeldeploy.hub import eviction, inventory, lock, retention, usage
from modeldeploy.hub.inventory import State
from tests.support.cacheroots import (
    REPO_ROOT,
    commit_of,
    held_by_another_process,
    partial_model,
    verified_model,
)

REPO = "acme/tiny"
MARK = """
import sys
from pathlib import Path
from modeldeploy.hub import usage
print(usage.mark_in_use(Path(sys.argv[1]), sys.argv[2], "mdep-b"), flush=True)
"""


def _plan_for(root: Path, directory: Path) -> retention.Eviction:
    model = inventory.scan(root).model(directory.name)
    assert model is not None
    return retention.Eviction(
        directory.name, model.repo, model.commit, model.bytes, "unused", state=model.state
    )


def _mark_in_another_process(root: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", MARK, str(root), name],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def test_an_eviction_renames_the_directory_away_before_deleting_it(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"))
    usage.merge(tmp_path, {directory.name: usage.UsageUpdate(requests=5)})
    seen: dict[str, object] = {}

    def step(point: str, planned: retention.Eviction) -> None:
        if point == "checking":  # holding both locks, just before the rename
            seen["listed"] = [m.name for m in inventory.scan(tmp_path).models]

    outcome = eviction.evict(tmp_path, _plan_for(tmp_path, directory), on_step=step)

    assert outcome.removed and outcome.skipped is None
    assert seen["listed"] == [directory.name] and not directory.exists()
    assert list(eviction.evicting_root(tmp_path).iterdir()) == []
    assert directory.name not in usage.read(tmp_path)


def test_a_model_marked_in_use_after_the_plan_stays(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"))
    planned = _plan_for(tmp_path, directory)
    marked: list[str] = []

    def step(point: str, _: retention.Eviction) -> None:
        if point == "locked":  # the plan is made, the root lock not yet taken
            child = _mark_in_another_process(tmp_path, directory.name)
            marked.append(child.communicate(timeout=60)[0].strip())

    outcome = eviction.evict(tmp_path, planned, on_step=step)

    assert marked == ["True"] and directory.is_dir()
    assert not outcome.removed and outcome.skipped == "now in use by mdep-b"
    assert inventory.scan(tmp_path).models[0].used_by == ("mdep-b",)


def test_a_mark_waiting_for_the_root_lock_learns_the_model_is_gone(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"))
    children: list[subprocess.Popen[str]] = []

    def step(point: str, _: retention.Eviction) -> None:
        if point == "checking":  # holding the root lock: the child must wait for it
            children.append(_mark_in_another_process(tmp_path, directory.name))

    outcome = eviction.evict(tmp_path, _plan_for(tmp_path, directory), on_step=step)
    answer = children[0].communicate(timeout=60)[0].strip()

    assert outcome.removed and not directory.exists()
    assert answer == "False"  # the caller must not mount it
    assert usage.read(tmp_path)[directory.name].users == ("mdep-b",)


def test_a_model_whose_lock_a_fetch_holds_stays(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"))
    with ExitStack() as stack:

        def step(point: str, _: retention.Eviction) -> None:
            if point == "start":
                stack.enter_context(held_by_another_process(directory))

        outcome = eviction.evict(tmp_path, _plan_for(tmp_path, directory), on_step=step)

    assert not outcome.removed and outcome.skipped == "being fetched or repaired (locked)"
    assert directory.is_dir() and inventory.scan(tmp_path).models[0].state is State.VERIFIED


def test_a_partial_fetch_completed_since_the_plan_stays(tmp_path: Path):
    directory = partial_model(tmp_path, REPO, commit_of("v1"))
    planned = _plan_for(tmp_path, directory)

    def step(point: str, _: retention.Eviction) -> None:
        if point == "start":  # a fetch finishes between the plan and the eviction
            verified_model(tmp_path, REPO, commit_of("v1"))

    outcome = eviction.evict(tmp_path, planned, on_step=step)

    assert (
        planned.state is State.INCOMPLETE and outcome.skipped == "fetched since the plan was made"
    )
    assert inventory.scan(tmp_path).models[0].state is State.VERIFIED


def test_a_killed_gcs_leftovers_are_never_listed_and_go_with_the_next_gc(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"))
    leftover = eviction.evicting_root(tmp_path) / directory.name
    leftover.parent.mkdir(parents=True)
    os.rename(directory, leftover)  # what step 3 does, then the gc died

    listed = inventory.scan(tmp_path).models
    cleared = eviction.clear_leftovers(tmp_path)

    assert listed == () and cleared == [directory.name] and not leftover.exists()


def test_a_fetcher_waiting_on_an_evicted_directory_locks_the_one_now_there(tmp_path: Path):
    directory = verified_model(tmp_path, REPO, commit_of("v1"))
    holding = threading.Event()
    done = threading.Event()
    locked_path: list[bool] = []

    def fetcher() -> None:
        holding.wait(timeout=30)
        with lock.directory_lock(directory, timeout=30):
            locked_path.append(lock.is_held(directory))
        done.set()

    thread = threading.Thread(target=fetcher)
    thread.start()
    outcome = eviction.evict(
        tmp_path,
        _plan_for(tmp_path, directory),
        on_step=lambda point, _: holding.set() if point == "locked" else None,
    )
    thread.join(timeout=30)

    assert outcome.removed and done.is_set()
    assert locked_path == [True]  # the lock file at the directory's path, not the evicted one
    assert (directory / ".modeldeploy" / "lock").exists()
