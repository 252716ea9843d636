"""What the vLLM engine's output says: its load steps, the facts it states, why it failed.

**Load steps.** vLLM logs each stage of its start (architecture resolved, engine core
initialising, weights loading, weights loaded, KV cache sized, engine warmed, server
listening). Each known line moves Loading's progress to that step's fraction; the state
machine keeps the highest, so progress only goes up, and it moves only on evidence (never on a
timer). Its weights are memory-mapped and the page cache is warm after Verifying, so byte
counters would say little; these steps are what can be known.

**Facts.** The platform (cpu, cuda, ...), the resolved architecture and the dtype it chose
come from the same lines, so `/status` reports what the engine really did.

**Failures.** When the process ends, its exit code and last lines decide the reason:
out of memory (device or KV cache) → `EngineOutOfMemory`; an architecture vLLM cannot run →
`UnsupportedArchitecture`; its own argument parser refusing a value → `InvalidEngineArgs`;
anything else → `EngineExited`. The message carries the exit code (or signal) and the lines
that say why.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable
from dataclasses import dataclass

from modeldeploy.runtime.state import Reason


@dataclass(frozen=True)
class Step:
    marker: re.Pattern[str]
    fraction: float
    label: str


STEPS: tuple[Step, ...] = (
    Step(re.compile(r"non-default args:|Automatically detected platform"), 0.05, "engine started"),
    Step(re.compile(r"Resolved architecture: "), 0.1, "model config read by the engine"),
    Step(re.compile(r"Initializing a V1 LLM engine"), 0.2, "engine core starting"),
    Step(re.compile(r"Starting to load model"), 0.3, "engine loading weights"),
    Step(re.compile(r"Loading weights took|Model loading took"), 0.55, "weights loaded"),
    Step(re.compile(r"Warming up model|Memory profiling takes|profiling"), 0.6, "engine profiling"),
    Step(re.compile(r"KV cache size: "), 0.8, "KV cache allocated"),
    Step(re.compile(r"init engine \(profile, create kv cache"), 0.85, "engine core ready"),
    Step(re.compile(r"Starting vLLM (API )?server"), 0.9, "API server starting"),
    Step(re.compile(r"Application startup complete"), 0.95, "API server listening"),
)

_PLATFORM = re.compile(r"Automatically detected platform (\w+)|\bdevice_config=(\w+)")
_ARCHITECTURE = re.compile(r"Resolved architecture: (\w+)")
_DTYPE = re.compile(r"\bdtype=torch\.(\w+)")


@dataclass(frozen=True)
class Event:
    """What one output line told: a step reached and/or a fact learnt."""

    step: Step | None = None
    platform: str | None = None
    architecture: str | None = None
    dtype: str | None = None


def read(line: str) -> Event | None:
    step = next((s for s in reversed(STEPS) if s.marker.search(line)), None)
    platform = _match(_PLATFORM, line)
    architecture = _match(_ARCHITECTURE, line)
    dtype = _match(_DTYPE, line) if "Initializing a V1 LLM engine" in line else None
    if step is None and platform is None and architecture is None and dtype is None:
        return None
    return Event(step, platform, architecture, dtype)


def _match(pattern: re.Pattern[str], line: str) -> str | None:
    found = pattern.search(line)
    return next((group for group in found.groups() if group), None) if found else None


_OUT_OF_MEMORY = re.compile(
    r"OutOfMemoryError|CUDA out of memory|out of memory|No available memory for the cache "
    r"blocks|larger than the available KV cache memory|Cannot allocate memory|"
    r"is less than desired CPU memory utilization|is less than requested memory",
    re.IGNORECASE,
)
_UNSUPPORTED = re.compile(
    r"are not supported for now|is not supported in-tree anymore|Cannot find model module|"
    r"Unsupported CPU attention configuration|is not supported for this model"
)
_ARGUMENT = re.compile(r"error: (argument |unrecognized arguments|invalid choice)|ArgumentError")
_ERROR_LINE = re.compile(r"Error\b|error:|ERROR|Exception|not supported|Unsupported")
# The last line of a Python traceback: `RuntimeError: ...`, `torch.OutOfMemoryError: ...`.
_EXCEPTION = re.compile(r"^(\(\w+\) )?[\w.]*(Error|Exception)\b: ")
CAUSE_LINES = 20


def is_cause(line: str) -> bool:
    """A line that names an exception: the engine's own statement of what went wrong."""
    return bool(_EXCEPTION.match(_strip_prefix(line)))


MESSAGE_LINES = 6


@dataclass(frozen=True)
class Verdict:
    reason: str
    message: str


def judge_exit(code: int | None, lines: Iterable[str], causes: Iterable[str] = ()) -> Verdict:
    """Why the engine's process ended, from its exit code, its last output lines, and the
    exception lines it printed before them (`causes`: the first ones are the root causes; a
    traceback's frames would push them out of the last lines)."""
    tail = [line for line in lines if line.strip()]
    first = _dedupe([line for line in causes if line.strip()])
    text = "\n".join([*first, *tail])
    ended = describe_exit(code)
    if _OUT_OF_MEMORY.search(text):
        reason = Reason.ENGINE_OUT_OF_MEMORY
        telling = [line for line in tail if _OUT_OF_MEMORY.search(line)]
    elif _UNSUPPORTED.search(text):
        reason = Reason.UNSUPPORTED_ARCHITECTURE
        telling = [line for line in tail if _UNSUPPORTED.search(line)]
    elif code == 2 and _ARGUMENT.search(text):
        reason = Reason.INVALID_ENGINE_ARGS
        telling = [line for line in tail if _ARGUMENT.search(line) or "usage:" in line]
    else:
        reason = Reason.ENGINE_EXITED
        telling = [line for line in tail if _ERROR_LINE.search(line)]
    pattern = {
        Reason.ENGINE_OUT_OF_MEMORY: _OUT_OF_MEMORY,
        Reason.UNSUPPORTED_ARCHITECTURE: _UNSUPPORTED,
    }.get(reason)
    if pattern is not None:  # the lines that said it, wherever they were (in order)
        telling = _dedupe([line for line in [*first, *tail] if pattern.search(line)])
        telling = telling[:MESSAGE_LINES]
    elif reason is Reason.ENGINE_EXITED:
        named = [line for line in [*first, *tail] if is_cause(line)]
        if named:  # in order: the root cause first
            telling = _dedupe(named)[:MESSAGE_LINES]
    shown = _dedupe(telling)[-MESSAGE_LINES:] or tail[-MESSAGE_LINES:]
    message = f"the vLLM engine {ended}"
    if shown:
        message += "; it said:\n" + "\n".join(_strip_prefix(line) for line in shown)
    return Verdict(reason, message)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit code {code})"
    return f"exited with code {code}"


_PREFIX = re.compile(r"^\((\w+) pid=\d+\) (ERROR|WARNING|INFO) \d\d-\d\d [\d:]+ \[[^\]]+\] ")


def _strip_prefix(line: str) -> str:
    """vLLM's `(Worker pid=42) ERROR 12-06 21:26:12 [file.py:10] ` prefix, shortened."""
    return _PREFIX.sub(lambda m: f"({m.group(1)}) ", line)[:500]


def _dedupe(lines: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for line in lines:
        key = _strip_prefix(line)
        if key not in seen:
            seen.add(key)
            out.append(line)
    return out
