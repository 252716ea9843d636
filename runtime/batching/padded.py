"""The running generations, stepped together: one KV cache shared by every row, left-padded.

Prompts that arrive together run together (`prefill`: one forward pass, left-padded to the
longest, at most `PREFILL_TOKENS` padded tokens per pass), then their cache joins the running
batch (`join`): both sides are padded on the left to the longer one and stacked along the
batch dimension. The attention mask marks the padding and each row keeps its own position ids (its
real token count), so padding changes neither what a row attends to nor its rotary positions.
A decode step then feeds every row's last token at once: the weights are read once for all
rows, which is what makes eight rows cost little more than one on a memory-bound device. A
finished row is cut out (`keep`), and columns that became padding for every remaining row are
trimmed from the left, so a long prompt that left does not keep costing.

This needs a cache whose layers are plain `DynamicLayer`s ([batch, heads, length, dim] tensors
that grow by concatenation): full-attention decoders such as Llama, Qwen2 or GPT-2. Once they
join the batch, its layers become `GrowingLayer`s, which add a step's column in place. Models
whose cache is anything else (sliding-window or hybrid layers) are served by `TurnBatch`: each
row keeps its own cache and the rows take turns, one token each per step — fair and exact, but
without the shared weight read. `can_pad` tells which, from the cache a prefill returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional
from transformers.cache_utils import DynamicLayer

from modeldeploy.runtime.batching.jobs import GenerationJob

if TYPE_CHECKING:
    from modeldeploy.runtime.engine import Engine


def can_pad(cache: Any) -> bool:
    """True when `cache` is a DynamicCache of plain full-attention layers."""
    from transformers.cache_utils import DynamicCache

    layers = getattr(cache, "layers", None) or []
    return (
        type(cache) is DynamicCache
        and bool(layers)
        and all(type(layer) is DynamicLayer for layer in layers)
    )


def growing(cache: Any) -> None:
    """Make `cache`'s layers `GrowingLayer`s (in place), keeping their keys and values."""
    for index, layer in enumerate(cache.layers):
        if type(layer) is not GrowingLayer:
            grown = GrowingLayer()
            grown.__dict__.update(layer.__dict__)
            cache.layers[index] = grown


class GrowingLayer(DynamicLayer):  # type: ignore[no-untyped-call]
    """A `DynamicLayer` whose keys and values are views into buffers with spare columns.

    `DynamicLayer` concatenates: every decode step copies every row's whole keys and values
    into new tensors to add one column, a cost that grows with rows times length (for eight rows
    of a 1 GB Llama at ~80 columns, ~55 MB copied per step). Here a step writes its column in
    place; the buffer is replaced (one copy, with room for `SPARE_FRACTION` more) only when it
    is full, or when the batch replaced the keys (a join or a cut makes new tensors). The
    values attended to are the same tensors' values, so the output is unchanged.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._key_room: torch.Tensor | None = None
        self._value_room: torch.Tensor | None = None

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        assert self.keys is not None and self.values is not None
        self.keys, self._key_room = _appended(self.keys, self._key_room, key_states)
        self.values, self._value_room = _appended(self.values, self._value_room, value_states)
        return self.keys, self.values


SPARE_FRACTION = 0.25
MIN_SPARE_COLUMNS = 32


def _appended(
    current: torch.Tensor, room: torch.Tensor | None, new: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`current` with `new`'s columns after it, as a view of `room` (or of a new buffer)."""
    if current.dim() != new.dim():  # a layer not yet written: its keys are an empty 1-d tensor
        current = new[:, :, :0]
    length, total = current.shape[-2], current.shape[-2] + new.shape[-2]
    fits = (
        room is not None
        and room.shape[-2] >= total
        and room.shape[:2] == current.shape[:2]
        and room.data_ptr() == current.data_ptr()
        and room.stride() == current.stride()
    )
    if not fits:
        spare = max(MIN_SPARE_COLUMNS, int(total * SPARE_FRACTION))
        batch, heads, _, dim = current.shape
        room = current.new_empty(batch, heads, total + spare, dim)
        room[:, :, :length] = current
    assert room is not None
    room[:, :, length:total] = new
    return room[:, :, :total], room


class PaddedBatch:
    """Rows that share one left-padded KV cache and one forward pass per step."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._clear()

    def _clear(self) -> None:
        self.rows: list[GenerationJob] = []
        self._cache: Any = None
        self._mask = torch.empty(0)  # (rows, columns): 1 for a real token, 0 for padding
        self._positions = torch.empty(0)  # (rows,): the next token's position in each row
        self._last = torch.empty(0)  # (rows,): each row's last token, fed at the next step

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        """Columns in the shared cache (the longest row, padding included)."""
        return int(self._mask.shape[1]) if self.rows else 0

    def prefill(self, jobs: list[GenerationJob]) -> tuple[torch.Tensor, Any, torch.Tensor]:
        """Run several prompts in one forward pass, left-padded to the longest: their
        (jobs, vocabulary) float32 logits, their cache and attention mask, for `join`."""
        device = self.engine.loaded.device
        width = max(job.prompt_length for job in jobs)
        ids = torch.zeros(len(jobs), width, dtype=torch.long, device=device)
        mask = torch.zeros(len(jobs), width, dtype=torch.long, device=device)
        for row, job in enumerate(jobs):
            ids[row, width - job.prompt_length :] = job.prompt[0]
            mask[row, width - job.prompt_length :] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        out = self.engine.loaded.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True
        )
        logits: torch.Tensor = out.logits[:, -1].float()
        return logits, getattr(out, self.engine.cache_keyword), mask

    def join(
        self,
        jobs: list[GenerationJob],
        cache: Any,
        mask: torch.Tensor,
        tokens: list[int],
    ) -> None:
        """Add rows whose prompts ran (`cache`, `mask`: one row per job, in order), each
        with the token it picked from its prompt's logits."""
        device = mask.device
        positions = mask.sum(dim=1)  # each row's real length: its next position
        last = torch.tensor(tokens, dtype=torch.long, device=device)
        if not self.rows:
            self._cache, self._mask, self._positions, self._last = cache, mask, positions, last
        else:
            width = max(self.width, int(mask.shape[1]))
            for mine, theirs in zip(self._cache.layers, cache.layers, strict=True):
                mine.keys = torch.cat([_pad_kv(mine.keys, width), _pad_kv(theirs.keys, width)])
                mine.values = torch.cat(
                    [_pad_kv(mine.values, width), _pad_kv(theirs.values, width)]
                )
            self._mask = torch.cat([_pad_mask(self._mask, width), _pad_mask(mask, width)])
            self._positions = torch.cat([self._positions, positions])
            self._last = torch.cat([self._last, last])
        growing(self._cache)
        self.rows.extend(jobs)

    def step(self) -> torch.Tensor:
        """One forward pass for every row: (rows, vocabulary) float32 logits."""
        ones = torch.ones(len(self.rows), 1, dtype=torch.long, device=self._mask.device)
        mask = torch.cat([self._mask, ones], dim=1)
        keyword = self.engine.cache_keyword
        out = self.engine.loaded.model(
            input_ids=self._last[:, None],
            attention_mask=mask,
            position_ids=self._positions[:, None],
            use_cache=True,
            **{keyword: self._cache},
        )
        self._cache, self._mask = getattr(out, keyword), mask
        self._positions = self._positions + 1
        logits: torch.Tensor = out.logits[:, -1].float()
        return logits

    def advance(self, tokens: list[int]) -> None:
        """The tokens just picked, one per row, become the next step's input."""
        self._last = torch.tensor(tokens, dtype=torch.long, device=self._last.device)

    def keep(self, indices: list[int]) -> None:
        """Keep only these rows (in this order); trim columns now padding for all of them."""
        if not indices:
            self._clear()
            return
        index = torch.tensor(indices, dtype=torch.long, device=self._mask.device)
        self._positions, self._last = self._positions[index], self._last[index]
        self.rows = [self.rows[i] for i in indices]
        self._mask = select_rows(self._cache, self._mask, indices)


def select_rows(cache: Any, mask: torch.Tensor, indices: list[int]) -> torch.Tensor:
    """Cut `cache` (in place) and `mask` down to these rows, then drop the leading columns
    that are padding in every row left; the new mask."""
    index = torch.tensor(indices, dtype=torch.long, device=mask.device)
    mask = mask[index]
    padding_only = (mask.sum(dim=0) == 0).long()
    lead = int(padding_only.cumprod(dim=0).sum())  # leading columns nobody uses
    for layer in cache.layers:
        layer.keys = layer.keys[index, :, lead:]
        layer.values = layer.values[index, :, lead:]
    return mask[:, lead:]


class TurnBatch:
    """Rows with a cache each, taking turns: for caches `PaddedBatch` cannot pad."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rows: list[GenerationJob] = []
        self._caches: list[Any] = []
        self._last: list[int] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, job: GenerationJob, cache: Any, token: int) -> None:
        self.rows.append(job)
        self._caches.append(cache)
        self._last.append(token)

    def step(self) -> torch.Tensor:
        keyword, device = self.engine.cache_keyword, self.engine.loaded.device
        logits = []
        for i, cache in enumerate(self._caches):
            ids = torch.tensor([[self._last[i]]], dtype=torch.long, device=device)
            out = self.engine.loaded.model(input_ids=ids, use_cache=True, **{keyword: cache})
            self._caches[i] = getattr(out, keyword)
            logits.append(out.logits[0, -1].float())
        return torch.stack(logits)

    def advance(self, tokens: list[int]) -> None:
        self._last = list(tokens)

    def keep(self, indices: list[int]) -> None:
        self.rows = [self.rows[i] for i in indices]
        self._caches = [self._caches[i] for i in indices]
        self._last = [self._last[i] for i in indices]


def _pad_kv(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """(batch, heads, length, dim) → (batch, heads, width, dim), zeros on the left."""
    return functional.pad(tensor, (0, 0, width - tensor.shape[-2], 0))


def _pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    return functional.pad(mask, (width - mask.shape[-1], 0))
