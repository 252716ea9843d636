"""The runtime container's probes, with a startup budget derived from the model size.

A fixed startup budget is either too short for a 70B model (the pod is killed while
loading, forever) or far too long for a tiny one (a stuck pod goes unnoticed for an
hour). So the budget is computed:

    cache volume:      budget = BASE + bytes / LOAD_RATE  (+ bytes / HASH_RATE if verify: full)
    per-pod download:  budget = BASE + bytes / LOAD_RATE + bytes / DOWNLOAD_RATE
                                     + bytes / HASH_RATE

plus ENGINE_START_SECONDS with `engine: vllm` (a second interpreter imports vLLM, its engine
core profiles memory and compiles or captures graphs before it answers: minutes even for a
tiny model on a busy CPU node), clamped to [FLOOR, CAP], and expressed as
`failureThreshold x periodSeconds` of the startupProbe. The rates are deliberately
pessimistic (a slow network volume, a slow mirror): the startup probe is a safety net
against hangs, not a deadline.
Unknown size (the estimate failed): UNKNOWN_SIZE_BUDGET.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BASE_SECONDS = 60
FLOOR_SECONDS = 120
CAP_SECONDS = 4 * 3600
UNKNOWN_SIZE_BUDGET = 1800
ENGINE_START_SECONDS = {"builtin": 0, "vllm": 600}
LOAD_RATE = 100 * 2**20  # bytes/s from the volume onto the device
DOWNLOAD_RATE = 25 * 2**20  # bytes/s from the hub, per pod
HASH_RATE = 200 * 2**20  # bytes/s re-hashed by a full verify
STARTUP_PERIOD = 10

STARTUP_PATH = "/startupz"
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/livez"


@dataclass(frozen=True)
class StartupBudget:
    seconds: int
    period: int
    failure_threshold: int


def startup_budget(
    *,
    weight_bytes: int | None,
    per_pod_download: bool,
    full_verify: bool,
    engine: str = "builtin",
) -> StartupBudget:
    """How long a replica may take to become Ready before it is restarted."""
    seconds: float
    if weight_bytes is None:
        seconds = UNKNOWN_SIZE_BUDGET + ENGINE_START_SECONDS[engine]
    else:
        seconds = BASE_SECONDS + ENGINE_START_SECONDS[engine] + weight_bytes / LOAD_RATE
        if per_pod_download:
            seconds += weight_bytes / DOWNLOAD_RATE + weight_bytes / HASH_RATE
        elif full_verify:
            seconds += weight_bytes / HASH_RATE
    clamped = min(max(math.ceil(seconds), FLOOR_SECONDS), CAP_SECONDS)
    threshold = math.ceil(clamped / STARTUP_PERIOD)
    return StartupBudget(
        seconds=threshold * STARTUP_PERIOD, period=STARTUP_PERIOD, failure_threshold=threshold
    )


def _http_get(path: str) -> dict[str, Any]:
    return {"path": path, "port": "http", "scheme": "HTTP"}


def probes(budget: StartupBudget) -> dict[str, dict[str, Any]]:
    """startupProbe, readinessProbe and livenessProbe of the runtime container."""
    return {
        "startupProbe": {
            "httpGet": _http_get(STARTUP_PATH),
            "periodSeconds": budget.period,
            "failureThreshold": budget.failure_threshold,
            "timeoutSeconds": 3,
        },
        "readinessProbe": {
            "httpGet": _http_get(READINESS_PATH),
            "periodSeconds": 5,
            "failureThreshold": 3,
            "timeoutSeconds": 3,
        },
        "livenessProbe": {
            "httpGet": _http_get(LIVENESS_PATH),
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 5,
        },
    }
