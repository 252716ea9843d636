"""On the CPU, float32 Linear layers are served through oneDNN with their weights packed once
(`runtime/packing.py`): the same outputs up to float rounding, every unshared layer packed, a
weight shared with another module (tied embeddings) left alone so it is never held twice."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modeldeploy.runtime import packing
from tests.runtime.inprocess import load_on_cpu
from tests.support import tinymodels


def plain(directory: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    model: torch.nn.Module = AutoModelForCausalLM.from_pretrained(directory)
    return model.eval()


def linears(model: torch.nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if type(m) is torch.nn.Linear]


def packed_layers(model: torch.nn.Module) -> dict[str, packing.PackedLinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, packing.PackedLinear)}


def test_every_linear_layer_is_packed_and_answers_the_same(tiny_lm: Path) -> None:
    loaded, reference = load_on_cpu(tiny_lm), plain(tiny_lm)
    layers = packed_layers(loaded.model)
    packed = list(layers)
    assert all(layer.blocked for layer in layers.values())  # this torch has the fast ops
    assert linears(loaded.model) == []
    assert packed == linears(reference) and packed  # all of them, the output head included
    ids = torch.tensor([[1, 17, 42, 99, 5, 250, 3]])
    with torch.inference_mode():
        got, want = loaded.model(input_ids=ids).logits, reference(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.equal(got.argmax(dim=-1), want.argmax(dim=-1))


def test_without_the_blocked_ops_the_plain_onednn_path_answers_the_same(
    tiny_lm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packing, "_has_blocked_ops", lambda: False)
    loaded, reference = load_on_cpu(tiny_lm), plain(tiny_lm)
    layers = packed_layers(loaded.model)
    assert layers and not any(layer.blocked for layer in layers.values())
    ids = torch.tensor([[1, 17, 42, 99, 5, 250, 3]])
    with torch.inference_mode():
        got, want = loaded.model(input_ids=ids).logits, reference(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5)


def test_a_weight_tied_to_the_embeddings_is_not_packed(tiny_lm: Path, tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    directory = tinymodels.copy_model(tiny_lm, tmp_path / "tied")
    config = AutoConfig.from_pretrained(directory)
    config.tie_word_embeddings = True
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    model.save_pretrained(directory)
    tinymodels.write_manifest_for(directory)
    loaded = load_on_cpu(directory)
    head = loaded.model.get_output_embeddings()
    assert type(head) is torch.nn.Linear
    assert head.weight is loaded.model.get_input_embeddings().weight  # still one tensor
    assert linears(loaded.model) == ["lm_head"]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_other_dtypes_and_devices_are_left_alone(dtype: torch.dtype) -> None:
    assert not packing.can_pack(torch.device("cpu"), dtype)
    assert not packing.can_pack(torch.device("cuda"), torch.float32)
