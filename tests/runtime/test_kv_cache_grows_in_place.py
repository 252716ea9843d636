"""The running batch's KV cache grows in place (`batching/padded.GrowingLayer`): a decode
step writes its column into spare room instead of copying every row's keys and values, and
what attention reads is exactly what concatenation would have made."""

from __future__ import annotations

import torch

from modeldeploy.runtime.batching.padded import GrowingLayer


def layer_holding(keys: torch.Tensor, values: torch.Tensor) -> GrowingLayer:
    layer = GrowingLayer()
    layer.update(keys, values)
    return layer


def test_steps_give_what_concatenation_gives_and_copy_only_when_room_runs_out() -> None:
    torch.manual_seed(0)
    keys, values = torch.randn(3, 2, 5, 8), torch.randn(3, 2, 5, 8)
    layer = layer_holding(keys, values)
    buffers = set()
    for _ in range(100):
        new_keys, new_values = torch.randn(3, 2, 1, 8), torch.randn(3, 2, 1, 8)
        got_keys, got_values = layer.update(new_keys, new_values)
        keys, values = torch.cat([keys, new_keys], dim=-2), torch.cat([values, new_values], dim=-2)
        assert torch.equal(got_keys, keys) and torch.equal(got_values, values)
        buffers.add(got_keys.data_ptr())
    assert layer.get_seq_length() == 105
    assert len(buffers) <= 6, f"{len(buffers)} buffers for 100 steps: it copies too often"


def test_keys_replaced_by_the_batch_are_taken_as_they_are() -> None:
    """A join or a cut gives the layer new tensors; the next step builds on those."""
    torch.manual_seed(1)
    layer = layer_holding(torch.randn(4, 2, 6, 8), torch.randn(4, 2, 6, 8))
    layer.update(torch.randn(4, 2, 1, 8), torch.randn(4, 2, 1, 8))
    assert layer.keys is not None and layer.values is not None
    kept_keys, kept_values = layer.keys[[0, 2], :, 3:], layer.values[[0, 2], :, 3:]  # a cut
    layer.keys, layer.values = kept_keys, kept_values
    new_keys, new_values = torch.randn(2, 2, 1, 8), torch.randn(2, 2, 1, 8)
    got_keys, got_values = layer.update(new_keys, new_values)
    assert torch.equal(got_keys, torch.cat([kept_keys, new_keys], dim=-2))
    assert torch.equal(got_values, torch.cat([kept_values, new_values], dim=-2))


def test_a_step_leaves_the_earlier_columns_where_they_are() -> None:
    layer = layer_holding(torch.randn(2, 2, 4, 8), torch.randn(2, 2, 4, 8))
    first, _ = layer.update(torch.randn(2, 2, 1, 8), torch.randn(2, 2, 1, 8))
    before = first.data_ptr()
    second, _ = layer.update(torch.randn(2, 2, 1, 8), torch.randn(2, 2, 1, 8))
    assert second.data_ptr() == before  # written in place: no copy of the cache
    assert second.shape[-2] == 6
