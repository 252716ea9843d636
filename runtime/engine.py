"""The model's forward passes as the server uses them: a prompt's prefill, one request's
whole generation, token picking, and pooled vectors for embeddings.

Serving runs these on the scheduler's thread (`batching.scheduler`), which steps many
requests together; `generate` is one request alone (the reference the batched path is
tested against). Decoding is a small explicit loop over the model's forward pass with its KV
cache rather than `generate()`: it checks every step's logits are finite (NaN weights fail
warm-up instead of producing garbage), and greedy vs sampled is one visible branch.

The KV cache: the first step passes none, so the model builds the kind its layers need (a
`DynamicCache` from its config, with sliding-window layers where the config has them, or a
hybrid model's own class), and every later step hands that same object back. Its keyword is
read from the model's `forward` signature, not assumed: transformers 5 renamed
`past_key_values` to `cache` (argument and output; the old name warns and is due to be
removed), while models and releases from before the rename know only `past_key_values`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from modeldeploy.runtime import pooling
from modeldeploy.runtime.faults import is_device_fault
from modeldeploy.runtime.loader import LoadedModel


class NonFiniteOutputError(RuntimeError):
    """The model produced NaN or infinite values: its weights or the device are broken."""


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    ignore_eos: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


__all__ = ["Engine", "NonFiniteOutputError", "SamplingParams", "is_device_fault"]


class Engine:
    """Wraps a LoadedModel; blocking calls, made from worker threads, never the event loop."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.cache_keyword = cache_keyword(loaded.model)
        self.input_limit = input_limit(loaded)

    @property
    def task(self) -> str:
        return self.loaded.task

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """The prompt's ids, BOS first when the tokenizer has one: (1, length), on the CPU
        (the forward passes move it; a copy to a GPU here could wait on running kernels)."""
        tokenizer = self.loaded.tokenizer
        ids: list[int] = tokenizer(prompt)["input_ids"]
        if tokenizer.bos_token_id is not None and (not ids or ids[0] != tokenizer.bos_token_id):
            ids = [tokenizer.bos_token_id, *ids]
        return torch.tensor([ids], dtype=torch.long)

    def prefill(self, prompt_ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Run a prompt alone: its last position's float32 logits and its KV cache."""
        ids = prompt_ids.to(self.loaded.device)
        with torch.inference_mode():
            out = self.loaded.model(input_ids=ids, use_cache=True)
        return out.logits[0, -1].float(), getattr(out, self.cache_keyword)

    def generate(self, prompt_ids: torch.Tensor, params: SamplingParams) -> Iterator[int]:
        """One request alone: yield new token ids one by one; stops at max_tokens or an
        end-of-sequence token."""
        model = self.loaded.model
        generator = None
        if params.seed is not None:
            generator = torch.Generator(device=self.loaded.device).manual_seed(params.seed)
        stop = set() if params.ignore_eos else eos_ids(model, self.loaded.tokenizer)
        inputs, cache = prompt_ids.to(self.loaded.device), dict[str, Any]()  # no cache yet
        for _ in range(params.max_tokens):
            with torch.inference_mode():
                out = model(input_ids=inputs, use_cache=True, **cache)
                logits = out.logits[0, -1].float()
                if not bool(torch.isfinite(logits).all()):
                    raise NonFiniteOutputError("the model produced non-finite logits")
                token = pick_token(logits, params, generator)
            cache = {self.cache_keyword: getattr(out, self.cache_keyword)}
            yield token
            if token in stop:
                return
            inputs = torch.tensor([[token]], dtype=torch.long, device=self.loaded.device)

    def encode_texts(self, texts: list[str]) -> list[dict[str, list[int]]]:
        """Each text's tokenizer features (`input_ids` and the rest), truncated at
        `input_limit`, unpadded: `embed_counted` pads a pass's rows together."""
        features = self.loaded.tokenizer(texts, truncation=True, max_length=self.input_limit)
        return [{key: features[key][i] for key in features} for i in range(len(texts))]

    def token_counts(self, texts: list[str]) -> list[int]:
        """Each text's token count as `embed_counted` will see it (truncated alike)."""
        return [len(row["input_ids"]) for row in self.encode_texts(texts)]

    def embed_counted(
        self, texts: list[str], encoded: list[dict[str, list[int]]] | None = None
    ) -> tuple[list[list[float]], list[int]]:
        """One padded forward pass: a vector per text and each text's token count.
        `encoded`: the texts' `encode_texts` rows, when the caller has them already."""
        tokenizer, spec = self.loaded.tokenizer, self.loaded.pooling
        assert spec is not None, "embed_counted() on a model loaded without a pooling spec"
        rows = encoded if encoded is not None else self.encode_texts(texts)
        batch = {
            k: v.to(self.loaded.device) for k, v in tokenizer.pad(rows, return_tensors="pt").items()
        }
        with torch.inference_mode():
            hidden = self.loaded.model(**batch).last_hidden_state
            vectors = pooling.pool(hidden, batch["attention_mask"], spec)
            if not bool(torch.isfinite(vectors).all()):
                raise NonFiniteOutputError("the model produced non-finite embeddings")
        counts: list[int] = batch["attention_mask"].sum(dim=1).tolist()
        return vectors.cpu().tolist(), counts


def input_limit(loaded: LoadedModel) -> int | None:
    """The most tokens an embedding input keeps (longer ones are truncated): the tokenizer's
    `model_max_length`, or the model's positions when it has fewer (a tokenizer saved without
    a limit would otherwise run past them and fail the pass)."""
    limits = [
        value
        for value in (
            getattr(loaded.tokenizer, "model_max_length", None),
            getattr(loaded.model.config, "max_position_embeddings", None),
        )
        if isinstance(value, int) and 0 < value < 1_000_000_000
    ]
    return min(limits) if limits else None


def cache_keyword(model: Any) -> str:
    """The name under which `model.forward` takes (and its output returns) the KV cache."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def pick_token(logits: torch.Tensor, params: SamplingParams, generator: Any) -> int:
    """The next token from one position's float32 logits: argmax, or a (top-p) sample."""
    if params.greedy:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < params.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, num_samples=1, generator=generator))


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    config = getattr(model, "generation_config", None) or model.config
    value = getattr(config, "eos_token_id", None)
    if isinstance(value, int):
        ids.add(value)
    elif isinstance(value, list):
        ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
