"""Warm-up: one real request before Ready, through the same scheduler that serves.

Why: Ready must mean "this pod answers correctly now". The first pass allocates caches and
pages every weight in; it also catches weights that parse but compute garbage (NaN/inf) and
devices that fail on first use. It runs as a job of the serving scheduler (prefill, then
batched decode steps), so the path clients take is the path that was proven; it is not
counted in the serving metrics. Its latency and tokens/s go to `/status` and metrics.
"""

from __future__ import annotations

import time

from modeldeploy.runtime.batching.jobs import EmbeddingJob, GenerationJob
from modeldeploy.runtime.batching.scheduler import Scheduler, Waiter
from modeldeploy.runtime.detokenize import Detokenizer
from modeldeploy.runtime.engine import SamplingParams
from modeldeploy.runtime.errors import LoadError
from modeldeploy.runtime.faults import is_device_fault
from modeldeploy.runtime.state import Reason
from modeldeploy.runtime.warmup_result import WarmupResult

__all__ = ["WarmupResult", "run"]


def run(scheduler: Scheduler, *, prompt: str, max_tokens: int) -> WarmupResult:
    """Generate `max_tokens` greedily (or embed `prompt`); raise LoadError(WarmupFailed)."""
    started = time.perf_counter()
    try:
        tokens = _exercise(scheduler, prompt=prompt, max_tokens=max_tokens)
    except Exception as exc:
        reason = Reason.DEVICE_FAULT if is_device_fault(exc) else Reason.WARMUP_FAILED
        raise LoadError(reason, f"warm-up with prompt {prompt!r} failed: {exc}") from exc
    return WarmupResult(time.perf_counter() - started, tokens, prompt)


def _exercise(scheduler: Scheduler, *, prompt: str, max_tokens: int) -> int:
    engine, waiter = scheduler.engine, Waiter()
    if engine.task == "embeddings":
        scheduler.submit(EmbeddingJob((prompt,), waiter.embedded))
        waiter.wait()
        assert waiter.embedding is not None
        return waiter.embedding.prompt_tokens
    params = SamplingParams(max_tokens=max(1, max_tokens), temperature=0.0)
    decoder = Detokenizer(engine.loaded.tokenizer, limit=params.max_tokens)
    job = GenerationJob(engine.encode_prompt(prompt), params, decoder, waiter.update)
    job.observed = False
    scheduler.submit(job)
    waiter.wait()
    return sum(update.tokens for update in waiter.updates)
