"""Embedding requests that arrive together share forward passes, and each gets the vectors it
would get alone (padding changes the products' shapes: equal within float rounding). A
request with many inputs runs in passes of bounded size, so no request decides how much
memory one pass takes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from modeldeploy.runtime.batching.jobs import EmbeddingJob
from modeldeploy.runtime.batching.scheduler import EMBED_PASS_TEXTS, Scheduler, Waiter
from modeldeploy.runtime.engine import Engine
from tests.runtime.inprocess import PassLog, ready_context

SENTENCES = tuple(f"sentence {i} says {' and more' * (i % 7)}" for i in range(12))


class CountingEngine:
    """Wraps the real engine's embedding pass to record how many texts each pass took."""

    def __init__(self, engine: Engine) -> None:
        self.real = engine.embed_counted
        self.sizes: list[int] = []

    def __call__(self, texts: list[str]) -> tuple[list[list[float]], list[int]]:
        self.sizes.append(len(texts))
        return self.real(texts)


def embed(scheduler: Scheduler, inputs: list[tuple[str, ...]]) -> list[list[list[float]]]:
    waiters = [Waiter() for _ in inputs]
    for texts, waiter in zip(inputs, waiters, strict=True):
        scheduler.submit(EmbeddingJob(texts, waiter.embedded))
    results = []
    for waiter in waiters:
        waiter.wait(timeout=60)
        assert waiter.embedding is not None
        results.append(waiter.embedding.vectors)
    return results


def close(a: list[float], b: list[float]) -> bool:
    return all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(a, b, strict=True))


@pytest.fixture
def scheduler(tiny_encoder: Path) -> Scheduler:
    ctx = ready_context(tiny_encoder, task="embeddings")
    assert ctx.scheduler is not None
    return ctx.scheduler


def test_requests_that_arrive_together_share_a_pass_and_match_alone(scheduler: Scheduler) -> None:
    alone = [embed(scheduler, [(s,)])[0][0] for s in SENTENCES]
    log = PassLog()
    scheduler.observer = log
    together = embed(scheduler, [(s,) for s in SENTENCES])
    assert max(log.rows) > 1  # some requests shared a pass
    for got, want in zip(together, alone, strict=True):
        assert close(got[0], want)


def test_a_request_with_many_inputs_runs_in_bounded_passes(scheduler: Scheduler) -> None:
    engine = scheduler.engine
    counting = CountingEngine(engine)
    engine.embed_counted = counting  # type: ignore[method-assign]
    many = tuple(SENTENCES[i % len(SENTENCES)] for i in range(2 * EMBED_PASS_TEXTS + 5))
    (vectors,) = embed(scheduler, [many])
    assert counting.sizes == [EMBED_PASS_TEXTS, EMBED_PASS_TEXTS, 5]
    assert len(vectors) == len(many)
    alone = {s: counting.real([s])[0][0] for s in SENTENCES}
    for text, vector in zip(many, vectors, strict=True):
        assert close(vector, alone[text])
