"""The next prefill group: the jobs at the head of the queue, in arrival order, whose padded
prompts (rows x the longest) fit the budget and the batch's free rows; a prompt longer than
the budget still runs, alone. On a CPU the budget grows with torch's threads; elsewhere it
is bounded only by activations' memory."""

from __future__ import annotations

from collections import deque

import pytest
import torch

from modeldeploy.runtime.batching.jobs import EmbeddingJob, GenerationJob, Job
from modeldeploy.runtime.batching.scheduler import (
    CPU_PREFILL_TOKENS_PER_THREAD,
    PREFILL_TOKENS,
    _group_size,
    prefill_budget,
)
from modeldeploy.runtime.detokenize import Detokenizer
from modeldeploy.runtime.engine import SamplingParams


def prompt_of(length: int) -> GenerationJob:
    return GenerationJob(
        torch.ones(1, length, dtype=torch.long),
        SamplingParams(),
        Detokenizer(None, limit=1),
        lambda update: None,
    )


def queue_of(*lengths: int) -> deque[Job]:
    return deque(prompt_of(n) for n in lengths)


def test_a_group_is_the_head_of_the_queue_that_fits_the_budget() -> None:
    assert _group_size(queue_of(10, 12, 11, 5, 5), room=8, budget=36) == 3  # 3 x 12 = 36
    assert _group_size(queue_of(10, 12, 11, 5, 5), room=8, budget=35) == 2


def test_a_longer_prompt_joining_widens_every_row() -> None:
    assert _group_size(queue_of(4, 4, 4, 30), room=8, budget=64) == 3  # 4 x 30 > 64


def test_a_prompt_longer_than_the_budget_runs_alone() -> None:
    assert _group_size(queue_of(500, 4), room=8, budget=64) == 1


def test_the_group_never_exceeds_the_free_rows() -> None:
    assert _group_size(queue_of(4, 4, 4, 4), room=2, budget=1000) == 2
    assert _group_size(queue_of(4), room=0, budget=1000) == 0


def test_another_kind_of_job_is_taken_alone_to_be_refused() -> None:
    embedding: Job = EmbeddingJob(("text",), lambda result: None)
    assert _group_size(deque([embedding, prompt_of(4)]), room=8, budget=64) == 1
    assert _group_size(deque([prompt_of(4), embedding]), room=8, budget=64) == 1


def test_the_budget_on_a_cpu_grows_with_its_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert prefill_budget(torch.device("cpu")) == 2 * CPU_PREFILL_TOKENS_PER_THREAD
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)
    assert prefill_budget(torch.device("cpu")) == PREFILL_TOKENS
    assert prefill_budget(torch.device("cuda", 0)) == PREFILL_TOKENS
