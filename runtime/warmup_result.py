"""What a warm-up proved: one real request's latency and tokens, for /status and metrics.

Its own module so an engine that runs in another process (runtime/engines/vllm) records its
warm-up without importing the built-in engine's torch machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
