"""Streaming detokenization: token by token it gives exactly the text of one full decode, it
decodes a short window per token (not the whole sequence again), and it stops at stop strings
without ever sending part of one."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.runtime import detokenize


@pytest.fixture(scope="module")
def tokenizer(tiny_lm: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm)


def stream(decoder: detokenize.Detokenizer, tokens: list[int]) -> list[str]:
    deltas = []
    for token in tokens:
        deltas.append(decoder.add(token))
        if decoder.done:
            break
    deltas.append(decoder.close())
    return deltas


def test_streamed_text_equals_one_full_decode(tokenizer: Any) -> None:
    """Random ids include raw bytes >= 0x80, so windows end inside multi-byte characters."""
    rng = random.Random(7)
    words = tokenizer("hello world, the quick brown fox ü € 😀")["input_ids"]
    for _ in range(200):
        tokens = [rng.randrange(len(tokenizer)) for _ in range(rng.randrange(1, 40))]
        tokens += rng.sample(words, k=min(len(words), 5))
        deltas = stream(detokenize.Detokenizer(tokenizer, limit=10_000), tokens)
        assert "".join(deltas) == detokenize.decode(tokenizer, tokens), tokens


def test_unfinished_characters_are_held_back(tokenizer: Any) -> None:
    tokens = tokenizer("a😀b", add_special_tokens=False)["input_ids"]
    decoder = detokenize.Detokenizer(tokenizer, limit=100)
    deltas = [decoder.add(token) for token in tokens] + [decoder.close()]
    assert all(detokenize.REPLACEMENT not in d for d in deltas), deltas
    assert "".join(deltas) == "a😀b"


def test_each_token_decodes_a_short_window(tokenizer: Any) -> None:
    class CountingTokenizer:
        """The real tokenizer, recording how many ids each decode call gets."""

        def __init__(self) -> None:
            self.sizes: list[int] = []

        def decode(self, ids: list[int], **options: Any) -> str:
            self.sizes.append(len(ids))
            return str(tokenizer.decode(ids, **options))

    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 40)
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    counting = CountingTokenizer()
    deltas = stream(detokenize.Detokenizer(counting, limit=10_000), tokens)
    assert "".join(deltas) == text
    assert len(tokens) > 200 and max(counting.sizes) <= 4  # whole-sequence decoding: > 200


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        (("fox",), "hello world, the quick brown "),
        (("zzz", "quick"), "hello world, the "),
        (("o w",), "hell"),
        (("absent",), "hello world, the quick brown fox"),
    ],
)
def test_stop_strings_end_the_text_before_them(
    tokenizer: Any, stop: tuple[str, ...], expected: str
) -> None:
    tokens = tokenizer("hello world, the quick brown fox", add_special_tokens=False)["input_ids"]
    decoder = detokenize.Detokenizer(tokenizer, stop=stop, limit=10_000)
    sent = ""
    for token in tokens:
        sent += decoder.add(token)
        assert expected.startswith(sent), (sent, expected)  # never a piece of a stop string
        if decoder.done:
            break
    sent += decoder.close()
    assert sent == expected == decoder.text
    assert decoder.finish_reason == "stop"


def test_max_tokens_ends_with_reason_length(tokenizer: Any) -> None:
    tokens = tokenizer("hello world, the quick brown fox", add_special_tokens=False)["input_ids"]
    decoder = detokenize.Detokenizer(tokenizer, stop=("zebra",), limit=3)
    text = "".join(stream(decoder, tokens))
    assert len(decoder.tokens) == 3 and decoder.finish_reason == "length"
    assert text == detokenize.decode(tokenizer, tokens[:3])
