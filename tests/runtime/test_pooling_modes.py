"""Pooling as a sentence-transformers config says: modes, masking and normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.runtime import pooling
from modeldeploy.runtime.errors import LoadError
from tests.support import tinymodels


def test_modes_respect_the_attention_mask() -> None:
    import torch

    hidden = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])  # the third token is padding

    def run(mode: str, normalize: bool = False) -> list[float]:
        spec = pooling.PoolingSpec(mode=mode, normalize=normalize, source="test")
        values: list[float] = pooling.pool(hidden, mask, spec)[0].tolist()
        return values

    assert run("cls_token") == [1.0, 0.0]
    assert run("mean_tokens") == [2.0, 2.0]
    assert run("max_tokens") == [3.0, 4.0]
    assert run("lasttoken") == [3.0, 4.0]
    assert run("mean_sqrt_len_tokens") == pytest.approx([4 / 2**0.5, 4 / 2**0.5])
    assert run("lasttoken", normalize=True) == pytest.approx([0.6, 0.8])


def test_spec_is_read_from_the_repo_layout(tmp_path: Path) -> None:
    tinymodels.write_sentence_transformers_layout(
        tmp_path, dimension=4, normalize=False, pooling="cls"
    )
    spec = pooling.read_spec(tmp_path)
    assert (spec.mode, spec.normalize) == ("cls_token", False)
    assert spec.source.endswith("1_Pooling/config.json")


def test_without_a_layout_mean_pooling_is_the_default(tmp_path: Path) -> None:
    spec = pooling.read_spec(tmp_path)
    assert (spec.mode, spec.normalize, spec.source) == ("mean_tokens", False, "default")


def test_ambiguous_pooling_config_is_refused(tmp_path: Path) -> None:
    tinymodels.write_sentence_transformers_layout(
        tmp_path, dimension=4, normalize=True, pooling="mean"
    )
    config = tmp_path / "1_Pooling" / "config.json"
    data = json.loads(config.read_text())
    data["pooling_mode_cls_token"] = True
    config.write_text(json.dumps(data))
    with pytest.raises(LoadError, match="one pooling mode"):
        pooling.read_spec(tmp_path)
