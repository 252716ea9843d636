"""`retention.plan_gc`: which models a clean-up removes, in which order and why; and which
it never removes (kept, in use, being fetched or repaired). Pure: no volume needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modeldeploy.hub import records, retention, sharing
from modeldeploy.hub.inventory import Inventory, InventoryModel, State
from tests.support.cacheroots import commit_of

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
WEEK = 7 * 86400.0
REPO = "acme/tiny"


def _days_ago(days: float | None) -> str | None:
    return None if days is None else records.iso(NOW - timedelta(days=days))


def _model(
    label: str,
    *,
    repo: str | None = REPO,
    state: State = State.VERIFIED,
    size: int = 100,
    used: float | None = None,
    verified: float | None = 1,
    modified: float | None = 1,
    users: tuple[str, ...] = (),
    selection: sharing.Selection | None = None,
) -> InventoryModel:
    commit = commit_of(label)
    chosen = selection or sharing.Selection()
    name = sharing.model_dir_name(repo, commit, chosen) if repo else commit
    return InventoryModel(
        name=name,
        repo=repo,
        revision="main",
        commit=commit,
        bytes=size,
        files=1,
        state=state,
        selection=chosen if repo else None,
        verified_at=_days_ago(verified) if state is not State.INCOMPLETE else None,
        last_used=_days_ago(used),
        used_by=users,
        modified_at=_days_ago(modified),
    )


def _plan(
    *models: InventoryModel,
    capacity: int = 10**9,
    policy: retention.Policy | None = None,
    keep: set[tuple[str, str]] | None = None,
    preload: set[tuple[str, str]] | None = None,
    cancelled: set[str] | None = None,
) -> list[retention.Eviction]:
    inventory = Inventory(root="/cache", capacity_bytes=capacity, scanned_at="", models=models)
    return retention.plan_gc(
        inventory,
        policy or retention.Policy(max_unused_for=WEEK),
        keep=keep or set(),
        preload=preload or set(),
        now=NOW,
        cancelled=cancelled or set(),
    )


def _key(label: str, repo: str = REPO) -> tuple[str, str]:
    return (repo, commit_of(label))


def test_an_old_commit_goes_once_a_kept_commit_of_the_same_selection_is_verified():
    old, new = _model("v1", used=0.1), _model("v2")

    (eviction,) = _plan(old, new, keep={_key("v2")})

    assert eviction.name == old.name
    assert eviction.why == f"old commit: {REPO} now at {commit_of('v2')[:12]}"


def test_a_preloaded_commit_makes_older_ones_old_too():
    old, new = _model("v1", used=0.1), _model("v2")

    assert [e.name for e in _plan(old, new, preload={_key("v2")})] == [old.name]


@pytest.mark.parametrize(
    "successor",
    [
        _model("v2", state=State.FETCHING),  # not there yet: the old one still serves
        _model("v2", selection=sharing.Selection.of(include=["*.json"])),  # another selection
        _model("v2", repo="other/repo"),  # another repo
    ],
)
def test_an_old_commit_stays_while_its_successor_is_not_a_verified_twin(
    successor: InventoryModel,
):
    old = _model("v1", used=0.1)

    assert _plan(old, successor, keep={(successor.repo or "", successor.commit or "")}) == []


def test_a_model_unused_for_too_long_goes_saying_since_when():
    stale = _model("a", used=9, verified=30)
    fresh = _model("b", used=1, verified=30)  # used recently: its old verification is moot
    never_used = _model("c", verified=10)
    unknown = _model("d", verified=None, modified=8)

    plan = {e.name: e.why for e in _plan(stale, fresh, never_used, unknown)}

    assert plan == {
        stale.name: "unused for 9d, longer than 7d (last used 2024-05-23T12:00:00Z)",
        never_used.name: "unused for 10d, longer than 7d (verified 2024-05-22T12:00:00Z)",
        unknown.name: "unused for 8d, longer than 7d (last modified 2024-05-24T12:00:00Z)",
    }


def test_preloads_are_exempt_from_the_unused_rule():
    preloaded = _model("p", used=60)

    assert _plan(preloaded, preload={_key("p")}) == []


def test_an_abandoned_partial_fetch_goes_a_recent_or_live_one_stays():
    abandoned = _model("a", state=State.INCOMPLETE, modified=8)
    recent = _model("b", state=State.INCOMPLETE, modified=1)
    live = _model("c", state=State.FETCHING, modified=30)

    (eviction,) = _plan(abandoned, recent, live)

    assert eviction.name == abandoned.name
    assert eviction.why == "abandoned partial fetch: untouched for 8d (since 2024-05-24T12:00:00Z)"


def test_a_cancelled_download_goes_at_once_but_never_a_live_kept_or_finished_one():
    cancelled = _model("a", state=State.INCOMPLETE, modified=0)
    live = _model("b", state=State.FETCHING, modified=0)
    kept = _model("c", state=State.INCOMPLETE, modified=0)
    finished = _model("d", state=State.VERIFIED)
    names = {m.name for m in (cancelled, live, kept, finished)}

    (eviction,) = _plan(cancelled, live, kept, finished, keep={_key("c")}, cancelled=names)

    assert (eviction.name, eviction.why) == (
        cancelled.name,
        "cancelled download: its partial files are removed",
    )


def test_above_the_high_watermark_least_recently_used_go_until_the_low_one():
    models = [_model(f"m{age}", size=200, used=age) for age in (1, 5, 3, 2, 4)]
    policy = retention.Policy(max_unused_for=WEEK, high_watermark=90, low_watermark=50)

    plan = _plan(*models, capacity=1000, policy=policy)

    # 1000 of 1000 held: the three least recently used go, leaving 400 (<= 50%).
    assert [e.commit for e in plan] == [commit_of("m5"), commit_of("m4"), commit_of("m3")]
    assert plan[0].why == (
        "cache 100% full, above the high watermark of 90% (down to 50%): least recently used "
        "(last used 2024-05-27T12:00:00Z)"
    )
    assert plan[1].why.startswith("cache 80% full")


def test_the_watermark_takes_preloads_but_never_kept_in_use_or_busy_models():
    policy = retention.Policy(max_unused_for=WEEK, high_watermark=50, low_watermark=10)
    kept = _model("kept", size=200, used=6)
    in_use = _model("in-use", size=200, used=6, users=("mdep-a",))
    fetching = _model("fetching", state=State.FETCHING, size=200, modified=6)
    repairing = _model("repairing", state=State.REPAIRING, size=200, modified=6)
    preloaded = _model("preloaded", size=200, used=5)

    plan = _plan(
        kept,
        in_use,
        fetching,
        repairing,
        preloaded,
        capacity=1000,
        policy=policy,
        keep={_key("kept")},
        preload={_key("preloaded")},
    )

    assert [e.name for e in plan] == [preloaded.name]


def test_below_the_high_watermark_nothing_goes_for_space():
    policy = retention.Policy(max_unused_for=WEEK, high_watermark=90, low_watermark=10)
    models = [_model(f"m{age}", size=100, used=age / 2) for age in range(1, 10)]

    assert _plan(*models, capacity=1000, policy=policy) == []  # 900 of 1000: not above 90%


def test_removals_by_rule_count_before_the_watermark_decides():
    policy = retention.Policy(max_unused_for=WEEK, high_watermark=90, low_watermark=50)
    stale = _model("stale", size=500, used=30)
    others = [_model(f"m{age}", size=100, used=age) for age in (1, 2, 3, 4)]

    plan = _plan(stale, *others, capacity=1000, policy=policy)

    assert [e.name for e in plan] == [stale.name]  # 900 -> 400: under the high watermark


def test_nothing_in_use_kept_or_busy_is_ever_removed_whatever_its_age():
    policy = retention.Policy(max_unused_for=0, high_watermark=1, low_watermark=0)
    models = [
        _model("used-by", used=400, users=("mdep-a",)),
        _model("kept", used=400),
        _model("fetching", state=State.FETCHING, modified=400),
        _model("repairing", state=State.REPAIRING, modified=400),
        _model("legacy-kept", repo=None, verified=400, modified=400),
    ]

    plan = _plan(
        *models, capacity=100, policy=policy, keep={_key("kept"), ("x/y", commit_of("legacy-kept"))}
    )

    assert plan == []


def test_evictions_carry_what_the_json_needs():
    (eviction,) = _plan(_model("a", used=30, size=1234))

    assert set(eviction.to_json()) == {"name", "repo", "commit", "bytes", "why"}
    assert eviction.to_json()["bytes"] == 1234 and eviction.state is State.VERIFIED


@pytest.mark.parametrize(("high", "low"), [(75, 75), (50, 80), (0, 0), (101, 50), (90, -1)])
def test_watermarks_must_be_ordered_percentages(high: int, low: int):
    with pytest.raises(ValueError):
        retention.Policy(max_unused_for=WEEK, high_watermark=high, low_watermark=low)


def test_without_a_high_watermark_there_is_no_space_rule():
    policy = retention.Policy(max_unused_for=WEEK, high_watermark=None)

    assert _plan(_model("a", size=5000, used=1), capacity=1000, policy=policy) == []
