"""Embedding requests that arrive together share forward passes, and each gets the vectors it
would get alone (padding changes the products' shapes: equal within float rounding). A
request with many inputs runs in passes of bounded size, so no request decides how much
memory one pass takes."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from modeldeploy.runtime.batching.jobs import EmbeddingJob
from modeldeploy.runtime.batching.scheduler import (
    EMBED_PASS_TEXTS,
    GATHER_SECONDS,
    Scheduler,
    Waiter,
)
from modeldeploy.runtime.engine import Engine
from tests.runtime.inprocess import PassLog, ready_context

SENTENCES = tuple(f"sentence {i} says {' and more' * (i % 7)}" for i in range(12))


class CountingEngine:
    """Wraps the real engine's embedding pass to record the texts each pass took."""

    def __init__(self, engine: Engine) -> None:
        self.real = engine.embed_counted
        self.passes: list[list[str]] = []

    def __call__(
        self, texts: list[str], encoded: list[dict[str, list[int]]] | None = None
    ) -> tuple[list[list[float]], list[int]]:
        self.passes.append(list(texts))
        return self.real(texts, encoded)


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
    many = tuple(SENTENCES[0] for _ in range(2 * EMBED_PASS_TEXTS + 5))  # one length
    (vectors,) = embed(scheduler, [many])
    assert [len(texts) for texts in counting.passes] == [EMBED_PASS_TEXTS, EMBED_PASS_TEXTS, 5]
    assert len(vectors) == len(many)
    alone = {s: counting.real([s])[0][0] for s in SENTENCES}
    for text, vector in zip(many, vectors, strict=True):
        assert close(vector, alone[text])


def test_a_burst_arriving_over_a_few_milliseconds_is_gathered_into_one_pass(
    scheduler: Scheduler,
) -> None:
    """Requests that keep arriving less than `GATHER_SECONDS` apart are gathered (the first
    does not run alone while the rest queue behind its pass)."""
    log = PassLog()
    scheduler.observer = log
    waiters = [Waiter() for _ in SENTENCES[:8]]
    for sentence, waiter in zip(SENTENCES, waiters, strict=False):
        scheduler.submit(EmbeddingJob((sentence,), waiter.embedded))
        time.sleep(GATHER_SECONDS / 4)
    for waiter in waiters:
        waiter.wait(timeout=60)
    assert log.rows[0] >= 4, log.rows  # up to GATHER_LIMIT_SECONDS: usually all 8
    assert sum(log.rows) == len(waiters)


def test_a_long_text_among_short_ones_does_not_widen_their_pass(scheduler: Scheduler) -> None:
    """The texts are sorted by length into passes: the short ones are not padded to the long
    one, and every vector is still the one its text gets alone, in the request's order."""
    engine = scheduler.engine
    counting = CountingEngine(engine)
    engine.embed_counted = counting  # type: ignore[method-assign]
    long = "a long text " + " ".join(f"word{i}" for i in range(90))
    texts = (*SENTENCES[:5], long, *SENTENCES[5:])
    (vectors,) = embed(scheduler, [texts])
    assert [long] in counting.passes
    for texts_in_pass in counting.passes:
        lengths = engine.token_counts(texts_in_pass)
        assert sum(lengths) >= 0.75 * len(lengths) * max(lengths)  # at most 25 % padding
    for text, vector in zip(texts, vectors, strict=True):
        assert close(vector, counting.real([text])[0][0])


def test_an_input_past_the_models_positions_is_truncated_not_a_failed_pass(
    scheduler: Scheduler,
) -> None:
    """The tiny encoder's tokenizer has no length limit and its model 128 positions: a
    longer input keeps its first 128 tokens, and the request sharing its turn is served."""
    engine = scheduler.engine
    assert engine.input_limit == 128
    too_long = " ".join(f"word{i}" for i in range(400))
    short, long = embed(scheduler, [(SENTENCES[0],), (too_long,)])
    assert len(long[0]) == len(short[0])
    assert engine.token_counts([too_long]) == [128]
