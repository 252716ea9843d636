"""Warm-up: one real forward pass before Ready.

Why: Ready must mean "this pod answers correctly now". The first pass allocates caches and
pages every weight in; it also catches weights that parse but compute garbage (NaN/inf) and
devices that fail on first use. Its latency and tokens/s go to `/status` and metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from modeldeploy.runtime.engine import Engine, SamplingParams
from modeldeploy.runtime.errors import LoadError
from modeldeploy.runtime.faults import is_device_fault
from modeldeploy.runtime.state import Reason


@dataclass(frozen=True)
class WarmupResult:
    latency_seconds: float
    tokens: int
    prompt: str

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.latency_seconds if self.latency_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "prompt": self.prompt,
            "latencySeconds": round(self.latency_seconds, 6),
            "tokens": self.tokens,
            "tokensPerSecond": round(self.tokens_per_second, 3),
        }


def run(engine: Engine, *, prompt: str, max_tokens: int) -> WarmupResult:
    """Generate `max_tokens` greedily (or embed `prompt`); raise LoadError(WarmupFailed)."""
    started = time.perf_counter()
    try:
        tokens = _exercise(engine, prompt=prompt, max_tokens=max_tokens)
    except Exception as exc:
        reason = Reason.DEVICE_FAULT if is_device_fault(exc) else Reason.WARMUP_FAILED
        raise LoadError(reason, f"warm-up with prompt {prompt!r} failed: {exc}") from exc
    return WarmupResult(time.perf_counter() - started, tokens, prompt)


def _exercise(engine: Engine, *, prompt: str, max_tokens: int) -> int:
    if engine.task == "embeddings":
        return engine.embed([prompt]).prompt_tokens
    params = SamplingParams(max_tokens=max(1, max_tokens), temperature=0.0)
    return sum(1 for _ in engine.generate(engine.encode_prompt(prompt), params))
