"""Tiny random-weight models with real architectures and real tokenizers, for tests and benches.

Why real: the runtime must load what `transformers` saves (config, safetensors, tokenizer
files, sentence-transformers layout), so the tests build exactly that, only small. Weights are
random (seeded, so two builds are byte-identical), tokenizers are trained here with the
`tokenizers` library on a small corpus, so nothing is downloaded.

API (everything writes into an empty or new folder and returns it):

- `build_causal_lm(dest, *, approx_bytes=None, seed=0, chat_template=CHAT_TEMPLATE, ...)`: a
  `LlamaForCausalLM` with a byte-level BPE tokenizer. `approx_bytes` scales the weights (e.g.
  40e6 makes Loading observable, 1e9 is the benchmark size); left out, the model is ~0.5 MB.
  `chat_template` goes into `tokenizer_config.json` as real chat models carry it (None: a
  model without one).
- `build_scripted_lm(dest, reply)`: a Llama whose every answer is `reply` then end-of-sequence,
  whatever the prompt: for testing what reaches the client (multi-byte characters) exactly.
- `build_encoder(dest, *, seed=0, normalize=True, pooling="mean")`: a `BertModel` with a
  WordPiece tokenizer and the sentence-transformers layout (`modules.json`,
  `1_Pooling/config.json`, `2_Normalize` when `normalize`).
- `write_manifest_for(directory, ...)`: hash every file and write `.modeldeploy/manifest.json`
  as the fetcher would, so a test gets a "fetched" directory.
- `copy_model(src, dest)`: a fresh copy of a built model (tests that damage files use one).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modeldeploy.hub import manifest

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a model is ready only when its weights sit on the device",
    "hello world, hello runtime, hello probes that tell the truth",
    "kubernetes restarts a pod whose liveness probe fails",
    "tensors are loaded one by one and the progress is counted in bytes",
    "sentence embeddings are pooled over tokens and normalised to unit length",
    "once upon a time there was a tiny language model with random weights",
    "numbers 0 1 2 3 4 5 6 7 8 9 and punctuation . , ; : ! ? - ( )",
] * 4

# A chat template in the Zephyr style (role markers, one end-of-sequence token per turn): the
# template writes the BOS token itself, as real templates do.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
DEFAULT_REPO = "tests/tiny-model"
DEFAULT_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _bpe_tokenizer(vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (GPT-2 style) trained on CORPUS, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )


def _wordpiece_tokenizer(vocab_size: int) -> Any:
    """A BERT-style WordPiece tokenizer trained on CORPUS, with [CLS] ... [SEP] framing."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
    )


def _causal_shape(approx_bytes: float | None) -> dict[str, int]:
    """Pick hidden size and depth so a float32 Llama weighs about `approx_bytes`."""
    if approx_bytes is None:
        return {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
    hidden = 1024 if approx_bytes >= 200e6 else 512 if approx_bytes >= 20e6 else 128
    intermediate = hidden * 11 // 4
    # q and o projections are hidden², k and v half that (2 of 4 heads), plus the 3 MLP mats.
    per_layer = (3 * hidden * hidden + 3 * hidden * intermediate) * 4
    layers = max(1, round(approx_bytes / per_layer))
    return {"hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers}


def build_causal_lm(
    dest: Path,
    *,
    approx_bytes: float | None = None,
    seed: int = 0,
    vocab_size: int = 320,
    max_shard_size: str | None = None,
    chat_template: str | None = CHAT_TEMPLATE,
    num_attention_heads: int = 4,
) -> Path:
    """Save a random `LlamaForCausalLM` plus tokenizer into `dest` (safetensors).

    `num_attention_heads=2` gives the ~0.5 MB model heads of 32 dimensions: vLLM's CPU
    attention has no kernel for the default 16 (it fails at the first request)."""
    import torch
    from transformers import LlamaForCausalLM

    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = _bpe_tokenizer(vocab_size)
    torch.manual_seed(seed)
    shape = {**_causal_shape(approx_bytes), "num_attention_heads": num_attention_heads}
    model = LlamaForCausalLM(_llama_config(tokenizer, shape))
    if max_shard_size:
        model.save_pretrained(dest, max_shard_size=max_shard_size)
    else:
        model.save_pretrained(dest)
    _save_tokenizer(tokenizer, dest, chat_template)
    return dest


def build_scripted_lm(dest: Path, reply: str, *, chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """Save a Llama that answers `reply`, then end-of-sequence, to any prompt.

    How: attention and MLP write nothing (their output projections are zero), so the logits at
    a position depend only on that position's token. Embeddings and `lm_head` then form a
    chain: any token outside the script leads to the reply's first token, each reply token to
    the next, the last to end-of-sequence, by a margin no temperature up to 2 overcomes. The
    reply's tokens must be distinct (a chain step cannot depend on where it is).
    """
    import torch
    from transformers import LlamaForCausalLM

    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = _bpe_tokenizer(320)
    script: list[int] = tokenizer(reply, add_special_tokens=False)["input_ids"]
    shape = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1}
    if len(set(script)) != len(script) or len(script) >= shape["hidden_size"]:
        raise ValueError(f"{reply!r}: its tokens {script} must be distinct and fewer than 64")
    torch.manual_seed(0)
    model = LlamaForCausalLM(_llama_config(tokenizer, shape))
    chain = [*script, tokenizer.eos_token_id]
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        embed.zero_()
        embed[:, 0] = 1.0  # every token outside the script: "start the reply"
        head.zero_()
        head[chain[0], 0] = 10.0
        for step, token in enumerate(script, start=1):
            embed[token].zero_()
            embed[token, step] = 1.0
            head[chain[step], step] = 10.0
    model.save_pretrained(dest)
    _save_tokenizer(tokenizer, dest, chat_template)
    return dest


def _save_tokenizer(tokenizer: Any, dest: Path, chat_template: str | None) -> None:
    """Save the tokenizer files; the chat template in `tokenizer_config.json`, as HF models do."""
    tokenizer.save_pretrained(dest)
    if chat_template is not None:
        config_path = dest / "tokenizer_config.json"
        config = json.loads(config_path.read_text())
        config["chat_template"] = chat_template
        config_path.write_text(json.dumps(config, indent=2))


def _llama_config(tokenizer: Any, shape: dict[str, int]) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        num_attention_heads=shape.get("num_attention_heads", 4),
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        hidden_size=shape["hidden_size"],
        intermediate_size=shape["intermediate_size"],
        num_hidden_layers=shape["num_hidden_layers"],
    )


def build_encoder(
    dest: Path,
    *,
    seed: int = 0,
    normalize: bool = True,
    pooling: str = "mean",
    vocab_size: int = 200,
) -> Path:
    """Save a random `BertModel` with the sentence-transformers layout into `dest`."""
    import torch
    from transformers import BertConfig, BertModel

    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = _wordpiece_tokenizer(vocab_size)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = BertModel(config, add_pooling_layer=False)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    write_sentence_transformers_layout(
        dest, dimension=config.hidden_size, normalize=normalize, pooling=pooling
    )
    return dest


def write_sentence_transformers_layout(
    dest: Path, *, dimension: int, normalize: bool, pooling: str
) -> None:
    modules: list[dict[str, Any]] = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
        (dest / "2_Normalize").mkdir(exist_ok=True)
    (dest / "modules.json").write_text(json.dumps(modules, indent=2))
    (dest / "1_Pooling").mkdir(exist_ok=True)
    pooling_config = {
        "word_embedding_dimension": dimension,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_lasttoken": pooling == "lasttoken",
    }
    (dest / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config, indent=2))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_files(directory: Path) -> list[Path]:
    """Every file of the model, sorted, without the `.modeldeploy/` bookkeeping folder."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and manifest.MANIFEST_DIR not in p.relative_to(directory).parts
    )


def write_manifest_for(
    directory: Path,
    *,
    repo: str = DEFAULT_REPO,
    revision: str = "main",
    commit: str = DEFAULT_COMMIT,
    endpoint: str = "http://127.0.0.1:0",
) -> Path:
    """Write a correct manifest (sha256 of every file) so `directory` looks fetched."""
    files = tuple(
        manifest.ManifestFile(
            path=p.relative_to(directory).as_posix(), size=p.stat().st_size, sha256=_sha256(p)
        )
        for p in model_files(directory)
    )
    record = manifest.Manifest(
        repo=repo,
        revision=revision,
        commit=commit,
        endpoint=endpoint,
        files=files,
        verified_at=datetime.now(UTC).isoformat(),
    )
    return manifest.write_manifest(directory, record)


def copy_model(src: Path, dest: Path) -> Path:
    """A private copy of a built model (with its manifest, if any) that a test may damage."""
    shutil.copytree(src, dest)
    return dest


def weight_files(directory: Path) -> list[Path]:
    """The `.safetensors` files of a model directory, sorted."""
    return sorted(directory.glob("*.safetensors"))
