"""What the scheduler serves — one generation or one embedding request — and what it reports.

A job is made on the event loop's side (the prompt already encoded on the engine's tokenizer
thread), handed to the scheduler thread, and answered through `deliver`, a callable that is
safe to call from that thread (see `admission.Channel`). `cancelled` is set from the event
loop when the client left or the request timed out: the scheduler drops the job at its next
step and frees its slot. A plain attribute is enough: one side only ever sets it, the other
only reads it, and a step late is fine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from modeldeploy.runtime.detokenize import Detokenizer
    from modeldeploy.runtime.engine import SamplingParams


@dataclass(frozen=True)
class Update:
    """One step's news for a generation: new text (whole characters only), tokens added,
    and, on its last update, the finish reason; or the error that ended it."""

    text: str = ""
    tokens: int = 0
    finish_reason: str | None = None
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None or self.error is not None


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    prompt_tokens: int


@dataclass(eq=False)
class GenerationJob:
    prompt: torch.Tensor  # (1, prompt length) ids, on the CPU
    params: SamplingParams
    decoder: Detokenizer
    deliver: Callable[[Update], None]
    arrived: float = field(default_factory=time.monotonic)  # when the request came in
    observed: bool = True  # counted in the serving metrics (the warm-up is not)
    cancelled: bool = False
    last_token_at: float | None = None
    generator: torch.Generator | None = None  # the request's own, when it gave a seed

    @property
    def prompt_length(self) -> int:
        return int(self.prompt.shape[1])


@dataclass(eq=False)
class EmbeddingJob:
    texts: tuple[str, ...]
    deliver: Callable[[EmbeddingResult | BaseException], None]
    arrived: float = field(default_factory=time.monotonic)
    cancelled: bool = False


Job = GenerationJob | EmbeddingJob
