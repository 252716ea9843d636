"""The usage file of a cache root: merges keep the most requests and the latest use, given
users replace the recorded ones, and marks in use are kept until released."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.hub import usage
from modeldeploy.hub.usage import UsageUpdate


def test_a_merge_keeps_max_requests_and_the_latest_last_use(tmp_path: Path):
    usage.merge(tmp_path, {"m": UsageUpdate(last_used="2024-05-02T10:00:00Z", requests=50)})

    # Older time written another way, fewer requests: neither goes back.
    usage.merge(tmp_path, {"m": UsageUpdate(last_used="2024-05-02T11:00:00+02:00", requests=7)})
    after_older = usage.read(tmp_path)["m"]
    usage.merge(tmp_path, {"m": UsageUpdate(last_used="2024-05-03T00:00:00Z", requests=60)})
    after_newer = usage.read(tmp_path)["m"]

    assert (after_older.last_used, after_older.requests) == ("2024-05-02T10:00:00Z", 50)
    assert (after_newer.last_used, after_newer.requests) == ("2024-05-03T00:00:00Z", 60)


def test_given_users_replace_the_recorded_ones_and_absent_ones_keep_them(tmp_path: Path):
    usage.merge(tmp_path, {"m": UsageUpdate(used_by=("mdep-a", "mdep-b"))})
    usage.merge(tmp_path, {"m": UsageUpdate(requests=3)})
    kept = usage.read(tmp_path)["m"].used_by
    usage.merge(tmp_path, {"m": UsageUpdate(used_by=())})

    assert kept == ("mdep-a", "mdep-b") and usage.read(tmp_path)["m"].used_by == ()


def test_the_file_has_the_documented_shape(tmp_path: Path):
    usage.merge(
        tmp_path,
        {"m": UsageUpdate(last_used="2024-05-02T10:00:00Z", requests=1, used_by=("a",))},
    )
    usage.mark_in_use(tmp_path, "m", "b", at="2024-05-02T10:00:01Z")

    document = json.loads((tmp_path / ".modeldeploy" / "usage.json").read_text())

    assert document == {
        "models": {
            "m": {
                "lastUsed": "2024-05-02T10:00:00Z",
                "requests": 1,
                "usedBy": ["a"],
                "inUse": {"b": "2024-05-02T10:00:01Z"},
            }
        }
    }


def test_a_mark_says_whether_the_model_is_there_and_stays_until_released(tmp_path: Path):
    (tmp_path / "present").mkdir()

    assert usage.mark_in_use(tmp_path, "present", "mdep-a") is True
    assert usage.mark_in_use(tmp_path, "absent", "mdep-a") is False
    marked = usage.read(tmp_path)
    usage.release(tmp_path, "present", "mdep-a")
    usage.release(tmp_path, "present", "nobody")

    assert marked["present"].users == ("mdep-a",) and marked["absent"].users == ("mdep-a",)
    assert usage.read(tmp_path)["present"].users == ()


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ({"m": {"requests": -1}}, "requests"),
        ({"m": {"requests": True}}, "requests"),
        ({"m": {"lastUsed": "yesterday"}}, "lastUsed"),
        ({"m": {"usedBy": "mdep-a"}}, "usedBy"),
        ({"m": {"inUse": ["mdep-a"]}}, "inUse"),
        ({"m": []}, "expected an object"),
        (["m"], "expected an object"),
    ],
)
def test_malformed_records_are_refused_naming_the_field(record: object, why: str):
    with pytest.raises(usage.UsageError, match=why):
        usage.parse_updates(record)


def test_no_usage_file_is_no_use(tmp_path: Path):
    assert usage.read(tmp_path) == {}
