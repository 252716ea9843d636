"""Small statistics the benches print: percentiles and a p50 / p99 / max summary."""

from __future__ import annotations

import math
import statistics


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p99_ms(values: list[float]) -> float:
    """The 99th percentile in milliseconds; NaN (which misses any goal) for no values."""
    return percentile(values, 0.99) * 1e3 if values else math.nan


def spread(values: list[float]) -> str:
    """p50 / p99 / max in milliseconds, and the count."""
    if not values:
        return "n/a"
    p50, p99 = statistics.median(values) * 1e3, p99_ms(values)
    return f"{p50:.2f} / {p99:.2f} / {max(values) * 1e3:.2f}  (n={len(values)})"
