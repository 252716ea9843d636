"""Durations as the ModelCache spec and `cache gc --max-unused-for` write them."""

from __future__ import annotations

import pytest

from modeldeploy.hub import durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("168h", 604800),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("7d", 604800),
        ("0", 0),
    ],
)
def test_go_durations_and_days_parse(text: str, seconds: float):
    assert durations.parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "7x", "-1h", "1h 30m", "h", "1h30", "1ms"])
def test_anything_else_is_refused_naming_the_text(text: str):
    with pytest.raises(ValueError, match="invalid duration"):
        durations.parse_seconds(text)


def test_durations_read_back_in_two_units():
    assert durations.describe(9 * 86400 + 3 * 3600 + 59) == "9d3h"
    assert durations.describe(125) == "2m5s"
    assert durations.describe(0) == "0s"
    assert durations.describe(30 * 86400 + 1) == "30d"  # the next unit down, or nothing
