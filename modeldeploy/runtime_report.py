"""The runtime's report: its states, its failure reasons and the shape of its `/status` document.

The runtime writes this report (`runtime/state.py`, `runtime/status.py`); the operator reads it
from every pod (`operator/planners/observed.py`) and judges by it. Both sides take these names
from here, so a state, reason or field renamed on one side is renamed on the other, and mypy
points at every place that still says the old one. The strings are the wire format and stable:
CamelCase states and reasons, camelCase keys.

The ground floor, beside `hub/`: standard library only, imported by the runtime and the
operator, importing neither (the layer contracts in pyproject.toml say so).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final, TypedDict


class State(StrEnum):
    """Where a runtime is (its `/status` `state`). See docs/architecture.md for the moves."""

    STARTING = "Starting"
    FETCHING = "Fetching"
    VERIFYING = "Verifying"
    LOADING = "Loading"
    WARMING_UP = "WarmingUp"
    READY = "Ready"
    DRAINING = "Draining"
    FAILED = "Failed"


ROAD_TO_READY: Final[tuple[State, ...]] = (
    State.STARTING,
    State.FETCHING,
    State.VERIFYING,
    State.LOADING,
    State.WARMING_UP,
    State.READY,
)
"""The states on the way to Ready, in order (Fetching only for a runtime that fetches its
model itself, WarmingUp only with warm-up on)."""
BEFORE_READY: Final[tuple[State, ...]] = ROAD_TO_READY[:-1]
"""Still on the way: a runtime in one of these has proved nothing since its process started."""


def beyond(state: State) -> frozenset[State]:
    """The states on the road to Ready after `state`: a runtime in one has passed it."""
    if state not in ROAD_TO_READY:
        raise ValueError(f"{state} is not on the road to Ready")
    return frozenset(ROAD_TO_READY[ROAD_TO_READY.index(state) + 1 :])


class Reason(StrEnum):
    """Typed failure reasons (CamelCase, stable: the operator and users match on them).

    The fetcher's own `FetchReason` values (`hub.errors`) pass through as they are when a
    per-pod fetch fails.
    """

    MANIFEST_MISSING = "ManifestMissing"
    FILE_MISSING = "FileMissing"
    FILE_CORRUPT = "FileCorrupt"
    SIZE_MISMATCH = "SizeMismatch"
    HEADER_UNREADABLE = "HeaderUnreadable"
    PICKLE_REFUSED = "PickleRefused"
    NO_WEIGHTS = "NoWeights"
    CONFIG_INVALID = "ConfigInvalid"
    TASK_MISMATCH = "TaskMismatch"
    INSUFFICIENT_GPU_MEMORY = "InsufficientGPUMemory"
    DEVICE_UNAVAILABLE = "DeviceUnavailable"
    LOAD_FAILED = "LoadFailed"
    WARMUP_FAILED = "WarmupFailed"
    DEVICE_FAULT = "DeviceFault"
    FETCH_FAILED = "FetchFailed"
    LISTEN_FAILED = "ListenFailed"
    # The vLLM engine (`--engine vllm`), a child process: see runtime/engines/vllm/events.py.
    ENGINE_EXITED = "EngineExited"
    ENGINE_OUT_OF_MEMORY = "EngineOutOfMemory"
    UNSUPPORTED_ARCHITECTURE = "UnsupportedArchitecture"
    INVALID_ENGINE_ARGS = "InvalidEngineArgs"


SECONDS_IN: Final[dict[State, str]] = {
    State.FETCHING: "fetchSeconds",
    State.VERIFYING: "verifySeconds",
    State.LOADING: "loadSeconds",
    State.WARMING_UP: "warmupSeconds",
}
"""The `timings` key holding the seconds a runtime spent in each phase (null until it ended)."""
STARTUP_SECONDS: Final = "startupSeconds"
"""The `timings` key holding the seconds from the process start to Ready (null before)."""


class ErrorDocument(TypedDict):
    """`error`: why the runtime failed (null unless Failed)."""

    reason: str
    """A `Reason`, or a fetcher's `FetchReason`."""
    message: str


class ModelDocument(TypedDict):
    """`model`: what the runtime serves."""

    name: str
    servedNames: list[str]
    task: str | None
    architecture: str | None
    directory: str
    repo: str | None
    pooling: str | None


class UsageDocument(TypedDict):
    """`usage`: the /v1 requests completed with a 2xx since the process started."""

    requests: int
    lastRequestAt: str | None
    """ISO 8601 UTC; null before the first."""


class StatusDocument(TypedDict):
    """`GET /status` (and each `/status/stream` event): the keys and what each holds.

    The parts only the runtime's own page reads stay plain objects here; runtime/status.py
    describes them.
    """

    state: str
    """A `State` value."""
    progress: float
    """0..1 of the current phase."""
    progressDetail: dict[str, Any]
    model: ModelDocument
    revision: str | None
    commit: str | None
    verified: bool
    device: str | None
    dtype: str | None
    memory: dict[str, Any] | None
    load: dict[str, Any]
    download: dict[str, Any] | None
    """Per-pod fetch only: the fetcher's progress (`hub.progress`)."""
    timings: dict[str, float | None]
    """`SECONDS_IN` each phase and `STARTUP_SECONDS`."""
    warmup: dict[str, Any] | None
    error: ErrorDocument | None
    eta: dict[str, Any] | None
    inFlight: int
    queue: dict[str, Any]
    serving: dict[str, Any]
    """The scheduler: `running`, `waitingForSlot`, `maxBatch`, `requestTimeoutSeconds`,
    `batching` ("shared" forward passes, "turns", or null before the first generation;
    "vllm" when the vLLM engine batches in its own process)."""
    engine: dict[str, Any]
    """`name` (builtin or vllm); for vllm once started also `pid`, `args` (as it was started
    with them), `platform`, `maxNumSeqs`, `exitCode` (null while it runs)."""
    usage: UsageDocument
    history: list[dict[str, Any]]
