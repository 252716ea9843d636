"""Sentence-embedding pooling, as the model repo's sentence-transformers config says.

A sentence-transformers repo describes its pipeline in `modules.json`: a Transformer, then a
Pooling module (its `config.json` picks cls / mean / max / mean-sqrt-len / last-token), then
optionally Normalize (L2). We honour that layout so the vectors match what the model's authors
publish; without it we fall back to mean pooling and no normalisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modeldeploy.runtime.errors import LoadError
from modeldeploy.runtime.state import Reason

POOLING_TYPE = "sentence_transformers.models.Pooling"
NORMALIZE_TYPE = "sentence_transformers.models.Normalize"
_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "lasttoken")


@dataclass(frozen=True)
class PoolingSpec:
    mode: str
    normalize: bool
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "normalize": self.normalize, "source": self.source}


def read_spec(directory: Path) -> PoolingSpec:
    modules_path = directory / "modules.json"
    if not modules_path.is_file():
        return PoolingSpec(mode="mean_tokens", normalize=False, source="default")
    modules = _read_json(modules_path)
    if not isinstance(modules, list):
        raise LoadError(Reason.CONFIG_INVALID, f"{modules_path}: expected a list of modules")
    normalize = any(m.get("type") == NORMALIZE_TYPE for m in modules)
    pooling = next((m for m in modules if m.get("type") == POOLING_TYPE), None)
    if pooling is None:
        return PoolingSpec(mode="mean_tokens", normalize=normalize, source=str(modules_path))
    config_path = directory / str(pooling.get("path", "")) / "config.json"
    config = _read_json(config_path)
    modes = [m for m in _MODES if config.get(f"pooling_mode_{m}")]
    if len(modes) != 1:
        raise LoadError(Reason.CONFIG_INVALID, f"{config_path}: expected one pooling mode, {modes}")
    return PoolingSpec(mode=modes[0], normalize=normalize, source=str(config_path))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoadError(Reason.CONFIG_INVALID, f"{path}: {exc}") from exc


def pool(hidden: torch.Tensor, mask: torch.Tensor, spec: PoolingSpec) -> torch.Tensor:
    """(batch, tokens, dim) hidden states + attention mask → (batch, dim) float32 vectors."""
    hidden = hidden.float()
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if spec.mode == "cls_token":
        vectors = hidden[:, 0]
    elif spec.mode == "max_tokens":
        vectors = hidden.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    elif spec.mode == "lasttoken":
        last = mask.sum(dim=1).long() - 1
        vectors = hidden[torch.arange(hidden.shape[0]), last]
    else:
        summed = (hidden * weights).sum(dim=1)
        counts = weights.sum(dim=1).clamp(min=1.0)
        vectors = summed / (counts.sqrt() if spec.mode == "mean_sqrt_len_tokens" else counts)
    if spec.normalize:
        vectors = torch.nn.functional.normalize(vectors, p=2.0, dim=1)
    return vectors
