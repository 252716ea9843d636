"""Continuous batching: requests decode together and each gets what it would get alone.

The scheduler runs on the real tiny Llama in this process. Greedy output must equal the
request run alone (`Engine.generate`), except where the two best logits of the step where
they part are within float rounding of each other: padding changes the shapes of the matrix
products, which may flip an exact near-tie, never a real preference.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from modeldeploy.runtime import status
from modeldeploy.runtime.batching.jobs import GenerationJob
from modeldeploy.runtime.batching.padded import PaddedBatch
from modeldeploy.runtime.batching.scheduler import Scheduler, Waiter
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.detokenize import Detokenizer
from modeldeploy.runtime.engine import Engine, SamplingParams
from tests.runtime.inprocess import PassLog, SlowDeviceDouble, ready_context
from tests.support import tinymodels

PROMPTS = (
    "hello",
    "the quick brown fox jumps over the lazy dog and keeps running far away",
    "a b c",
    "one more prompt of a middling length here",
    "x",
    "numbers 1 2 3 4 5 6 7 8 9 10 11 12",
)
NEAR_TIE = 1e-3  # logits closer than this may swap under batched arithmetic
SHAPE_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "max_position_embeddings",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
)


@pytest.fixture(scope="module")
def ctx(tiny_lm: Path) -> RuntimeContext:
    return ready_context(tiny_lm)


@pytest.fixture
def scheduler(ctx: RuntimeContext) -> Iterator[Scheduler]:
    assert ctx.engine is not None
    scheduler = Scheduler(ctx.engine, max_batch=8, observer=PassLog())
    scheduler.start()
    yield scheduler
    scheduler.stop()


def greedy(max_tokens: int) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)


def job(engine: Engine, prompt: str, params: SamplingParams, waiter: Waiter) -> GenerationJob:
    decoder = Detokenizer(engine.loaded.tokenizer, limit=params.max_tokens)
    return GenerationJob(engine.encode_prompt(prompt), params, decoder, waiter.update)


def alone(engine: Engine, prompt: str, params: SamplingParams) -> list[int]:
    return list(engine.generate(engine.encode_prompt(prompt), params))


def top_two_gap(engine: Engine, prompt: str, prefix: list[int]) -> float:
    """The gap between the two best logits after `prompt` + `prefix`, computed alone."""
    ids = torch.cat([engine.encode_prompt(prompt)[0], torch.tensor(prefix, dtype=torch.long)])
    with torch.inference_mode():
        logits = engine.loaded.model(input_ids=ids[None]).logits[0, -1].float()
    best = torch.topk(logits, 2).values
    return float(best[0] - best[1])


def run_together(
    scheduler: Scheduler, prompts: tuple[str, ...], params: SamplingParams
) -> list[list[int]]:
    engine = scheduler.engine
    waiters = [Waiter() for _ in prompts]
    jobs = [job(engine, p, params, w) for p, w in zip(prompts, waiters, strict=True)]
    for j in jobs:
        scheduler.submit(j)
    for w in waiters:
        w.wait(timeout=60)
    return [j.decoder.tokens for j in jobs]


def assert_as_alone(engine: Engine, together: list[list[int]], params: SamplingParams) -> None:
    """Each prompt's greedy tokens equal its run alone, but for a near-tie (at most one)."""
    exact = 0
    for prompt, tokens in zip(PROMPTS, together, strict=True):
        reference = alone(engine, prompt, params)
        assert len(tokens) == len(reference) == params.max_tokens
        if tokens == reference:
            exact += 1
            continue
        parted = next(i for i, (a, b) in enumerate(zip(tokens, reference, strict=True)) if a != b)
        gap = top_two_gap(engine, prompt, reference[:parted])
        assert gap < NEAR_TIE, f"{prompt!r} parted at token {parted} with a gap of {gap}"
    assert exact >= len(PROMPTS) - 1  # a near-tie is rare: most must match outright


def test_greedy_output_in_a_batch_is_the_output_alone(scheduler: Scheduler) -> None:
    params = greedy(24)
    together = run_together(scheduler, PROMPTS, params)
    assert max(scheduler.observer.rows) == len(PROMPTS)  # type: ignore[union-attr]
    assert_as_alone(scheduler.engine, together, params)


def test_a_burst_is_prefilled_group_by_group_between_decode_steps(ctx: RuntimeContext) -> None:
    """With a budget smaller than any prompt, each prompt is a prefill group of its own, and
    the running rows take a decode step after each group: they are never held up by the
    whole burst. Outputs stay those of each request alone."""
    assert ctx.engine is not None
    log = PassLog()
    scheduler = Scheduler(ctx.engine, max_batch=8, observer=log, prefill_tokens=1)
    scheduler.start()
    try:
        params = greedy(12)
        together = run_together(scheduler, PROMPTS, params)
    finally:
        scheduler.stop()
    # passes in order: prefill of 1, step of 1 row, prefill of 1, step of 2 rows, ...
    alternating = [n for rows in range(1, len(PROMPTS) + 1) for n in (1, rows)]
    assert log.rows[: len(alternating)] == alternating
    assert_as_alone(ctx.engine, together, params)


def test_a_request_joins_a_running_batch_at_the_next_step(
    ctx: RuntimeContext, scheduler: Scheduler
) -> None:
    engine = scheduler.engine
    model = engine.loaded.model
    real = model.forward
    model.forward = SlowDeviceDouble(real, 0.005)
    try:
        first_waiter, second_waiter = Waiter(), Waiter()
        first = job(engine, PROMPTS[1], greedy(40), first_waiter)
        scheduler.submit(first)
        deadline = time.monotonic() + 30
        while len(first.decoder.tokens) < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        second = job(engine, PROMPTS[0], greedy(10), second_waiter)
        scheduler.submit(second)
        first_waiter.wait(timeout=60)
        second_waiter.wait(timeout=60)
    finally:
        model.forward = real
    assert 2 in scheduler.observer.rows  # type: ignore[union-attr]
    assert first_waiter.updates[-1].finish_reason == "length"
    assert first.decoder.tokens == alone(engine, PROMPTS[1], greedy(40))
    assert second.decoder.tokens == alone(engine, PROMPTS[0], greedy(10))
    assert second_waiter.updates[-1].finish_reason == "length"


def test_a_cancelled_request_leaves_and_frees_its_slot(ctx: RuntimeContext) -> None:
    assert ctx.engine is not None
    engine = ctx.engine
    scheduler = Scheduler(engine, max_batch=1)
    scheduler.start()
    long_waiter, short_waiter = Waiter(), Waiter()
    long = job(engine, "hello", greedy(200), long_waiter)
    short = job(engine, "hi", greedy(3), short_waiter)
    model = engine.loaded.model
    real = model.forward
    model.forward = SlowDeviceDouble(real, 0.005)
    try:
        scheduler.submit(long)
        scheduler.submit(short)
        while len(long.decoder.tokens) < 3:
            time.sleep(0.005)
        assert scheduler.waiting == 1  # the short one waits: the only slot is taken
        long.cancelled = True
        short_waiter.wait(timeout=30)
    finally:
        model.forward = real
        scheduler.stop()
    assert len(short.decoder.tokens) == 3
    assert len(long.decoder.tokens) < 200
    assert all(update.finish_reason is None for update in long_waiter.updates)


def test_rows_that_leave_take_their_padding_with_them(ctx: RuntimeContext) -> None:
    assert ctx.engine is not None
    engine = ctx.engine
    batch = PaddedBatch(engine)
    prompts = ("a long prompt with plenty of words to pad against", "hi")
    jobs = [job(engine, prompt, greedy(8), Waiter()) for prompt in prompts]
    with torch.inference_mode():
        logits, cache, mask = batch.prefill(jobs)  # one pass, the short one padded
    batch.join(jobs, cache, mask, logits.argmax(dim=-1).tolist())
    long_length, short_length = (r.prompt_length for r in batch.rows)
    assert batch.width == long_length
    with torch.inference_mode():
        for _ in range(3):
            batch.advance(batch.step().argmax(dim=-1).tolist())
        batch.keep([1])  # the long prompt is done
        assert batch.width == short_length + 3
        batch.advance(batch.step().argmax(dim=-1).tolist())
    assert batch.width == short_length + 4


def test_seeded_requests_in_one_batch_sample_alike(scheduler: Scheduler) -> None:
    params = SamplingParams(max_tokens=16, temperature=1.0, seed=7, ignore_eos=True)
    first, second = run_together(scheduler, ("hello there", "hello there"), params)
    assert first == second
    reseeded = SamplingParams(max_tokens=16, temperature=1.0, seed=8, ignore_eos=True)
    assert run_together(scheduler, ("hello there",), reseeded)[0] != first


def test_a_prompt_done_at_its_first_token_leaves_its_group(scheduler: Scheduler) -> None:
    engine = scheduler.engine
    assert run_together(scheduler, ("warm",), greedy(2))  # the cache's kind is known now
    budgets = (greedy(12), greedy(1), greedy(12))
    waiters = [Waiter() for _ in budgets]
    jobs = [
        job(engine, prompt, params, waiter)
        for prompt, params, waiter in zip(PROMPTS[:3], budgets, waiters, strict=True)
    ]
    for j in jobs:
        scheduler.submit(j)
    for waiter in waiters:
        waiter.wait(timeout=60)
    assert [len(j.decoder.tokens) for j in jobs] == [12, 1, 12]
    for j, prompt, params in zip(jobs, PROMPTS[:3], budgets, strict=True):
        assert j.decoder.tokens == alone(engine, prompt, params)


def test_a_cache_that_cannot_be_padded_takes_turns(tiny_lm: Path, tmp_path: Path) -> None:
    """Sliding-window layers keep only the window: such caches are not padded together, the
    requests take turns, and each gets exactly what it gets alone."""
    from transformers import AutoConfig, MistralConfig, MistralForCausalLM

    directory = tinymodels.copy_model(tiny_lm, tmp_path / "sliding")
    llama = AutoConfig.from_pretrained(directory).to_dict()
    shape = {k: llama[k] for k in SHAPE_KEYS}
    torch.manual_seed(0)
    MistralForCausalLM(MistralConfig(**shape, sliding_window=8)).save_pretrained(directory)
    tinymodels.write_manifest_for(directory)
    ctx = ready_context(directory)
    assert ctx.scheduler is not None and ctx.engine is not None
    assert ctx.scheduler.batched is False  # known since the warm-up's prefill
    assert status.serving(ctx)["batching"] == "turns"
    log = PassLog()
    ctx.scheduler.observer = log
    together = run_together(ctx.scheduler, PROMPTS[:3], greedy(16))
    for prompt, tokens in zip(PROMPTS[:3], together, strict=True):
        assert tokens == alone(ctx.engine, prompt, greedy(16))  # turns are exact
    assert 3 in log.rows


def test_a_scheduler_bug_fails_its_requests_and_serving_goes_on(scheduler: Scheduler) -> None:
    engine = scheduler.engine
    real = scheduler._pick_all

    def broken(*args: object, **kwargs: object) -> tuple[list[int], list[int]]:
        raise IndexError("a bug in token picking")  # stands in for any unforeseen error

    assert run_together(scheduler, ("warm",), greedy(1))  # one token: no step, no picking
    scheduler._pick_all = broken  # type: ignore[method-assign]
    waiters = [Waiter() for _ in range(3)]
    for waiter in waiters:
        scheduler.submit(job(engine, "hello there", greedy(8), waiter))
    for waiter in waiters:
        with pytest.raises(IndexError, match="a bug in token picking"):
            waiter.wait(timeout=30)
    scheduler._pick_all = real  # type: ignore[method-assign]
    assert len(run_together(scheduler, ("hello there",), greedy(8))[0]) == 8
