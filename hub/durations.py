"""Durations as Go writes them (`90s`, `30m`, `168h`, `1h30m`, `1.5h`), plus days (`7d`).

The ModelCache spec (`verify.every`, `retention.maxUnusedFor`) and `cache gc
--max-unused-for` use the same form, read by this one function. A bare `0` is zero, as in
Go; any other number needs a unit, and negative durations are refused.
"""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd])")


def parse_seconds(text: str) -> float:
    """Seconds in `text`; ValueError naming the text and the form expected."""
    body = text.strip()
    if body == "0":
        return 0.0
    total, end = 0.0, 0
    for match in _PART.finditer(body):
        if match.start() != end:
            break
        total += float(match[1]) * UNITS[match[2]]
        end = match.end()
    if not body or end != len(body):
        raise ValueError(
            f"invalid duration {text!r}: expected a number and a unit (s, m, h, d), "
            "e.g. 90s, 30m, 168h, 1h30m, 7d"
        )
    return total


def describe(seconds: float) -> str:
    """`seconds` for people, in its largest unit and the next one: 9d3h, 2h5m, 40s, 30d."""
    left = int(seconds)
    units = sorted(UNITS.items(), key=lambda item: -item[1])
    for (unit, size), (smaller, smaller_size) in zip(units, [*units[1:], ("", 1)], strict=True):
        if left >= size or size == 1:
            count, rest = divmod(left, size)
            minor = rest // smaller_size if smaller else 0
            return f"{count}{unit}" + (f"{minor}{smaller}" if minor else "")
    return "0s"
