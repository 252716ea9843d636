"""Which task a checkpoint serves: detected from config.json, or asked for and checked.

`--task` used to be trusted blindly, and the Auto mappings will build a class for almost any
(config, task) pair: a Llama asked for embeddings becomes a bare `LlamaModel` (its LM head
dropped, one line in transformers' load report) and a BERT asked for text-generation becomes a
`BertLMHeadModel` whose head is random. Both went Ready and served numbers nobody trained.
So a task the checkpoint cannot do fails before any weight is read, with `TaskMismatch`.

What "cannot do" means, from config.json's `architectures` (the class the checkpoint was
saved from) and the sentence-transformers layout (`modules.json`, its publisher's statement
that the model is meant for embeddings, with the pooling to use):

- embeddings: refused when every declared architecture is a generative head (`*ForCausalLM`,
  `*LMHeadModel`, `*ForConditionalGeneration`) and there is no `modules.json`. A generative
  model's hidden states, pooled with a guessed mode, are not embeddings. Decoder-based
  embedding models ship `modules.json` (e.g. Qwen3-Embedding, saved as `Qwen3ForCausalLM`)
  and stay accepted, as do encoders and bare base models (`BertModel`, `BertForMaskedLM`).
- text-generation: refused when architectures are declared and none is a generative head:
  the LM head would be initialised at random.
- A config without `architectures` gives no evidence either way: the explicit task stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeldeploy.runtime.errors import LoadError
from modeldeploy.runtime.state import Reason

CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
GENERATIVE_SUFFIXES = (*CAUSAL_SUFFIXES, "ForConditionalGeneration")


def architectures(config: Any) -> list[str]:
    return list(getattr(config, "architectures", None) or [])


def detect(config: Any, directory: Path, requested: str) -> str:
    """text-generation for *ForCausalLM / *LMHeadModel, embeddings for encoders."""
    if requested != "auto":
        return requested
    declared = architectures(config)
    if any(a.endswith(CAUSAL_SUFFIXES) for a in declared):
        return "text-generation"
    if (directory / "modules.json").is_file() or any(a.endswith("Model") for a in declared):
        return "embeddings"
    raise LoadError(
        Reason.CONFIG_INVALID,
        f"{directory / 'config.json'}: cannot tell the task from architectures "
        f"{declared!r}; pass --task",
    )


def check(config: Any, directory: Path, task: str) -> None:
    """Raise LoadError(TaskMismatch) when the checkpoint cannot do `task` (module doc)."""
    declared = architectures(config)
    if not declared:
        return
    generative = [a for a in declared if a.endswith(GENERATIVE_SUFFIXES)]
    path = directory / "config.json"
    all_generative = len(generative) == len(declared)
    if task == "embeddings" and all_generative and not (directory / "modules.json").is_file():
        raise LoadError(
            Reason.TASK_MISMATCH,
            f"{path}: architectures {declared!r} is a generative model without a "
            f"sentence-transformers modules.json: it cannot serve embeddings; "
            f"use --task text-generation",
        )
    if task == "text-generation" and not generative:
        raise LoadError(
            Reason.TASK_MISMATCH,
            f"{path}: architectures {declared!r} has no language-model head: it cannot "
            f"serve text-generation; use --task embeddings",
        )
