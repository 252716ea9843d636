"""Embedding passes: the gathered texts sorted by token count, cut into passes of at most
`max_texts` where the next text would make a pass more than `max_waste` padding."""

from __future__ import annotations

import random

from modeldeploy.runtime.batching.embedding_passes import plan


def waste(lengths: list[int], indices: list[int]) -> float:
    padded = len(indices) * max(lengths[i] for i in indices)
    return 1 - sum(lengths[i] for i in indices) / padded


def test_texts_of_one_length_fill_passes_in_order() -> None:
    assert plan([7] * 5, max_texts=2, max_waste=0.25) == [[0, 1], [2, 3], [4]]


def test_a_long_text_among_short_ones_gets_a_pass_of_its_own() -> None:
    lengths = [12] * 31 + [500]
    lengths[3], lengths[-1] = lengths[-1], lengths[3]
    assert plan(lengths, max_texts=64, max_waste=0.25) == [
        [i for i in range(32) if i != 3],
        [3],
    ]


def test_shortest_texts_come_first_and_every_text_runs_once() -> None:
    lengths = [30, 5, 17, 5, 30, 9]
    passes = plan(lengths, max_texts=64, max_waste=0.25)
    order = [i for indices in passes for i in indices]
    assert sorted(order) == list(range(len(lengths)))
    assert [lengths[i] for i in order] == sorted(lengths)


def test_no_pass_is_more_padding_than_allowed() -> None:
    rng = random.Random(7)
    for _ in range(200):
        lengths = [rng.randint(1, 512) for _ in range(rng.randint(1, 150))]
        passes = plan(lengths, max_texts=64, max_waste=0.25)
        assert sorted(i for p in passes for i in p) == list(range(len(lengths)))
        for indices in passes:
            assert 1 <= len(indices) <= 64
            assert waste(lengths, indices) <= 0.25
