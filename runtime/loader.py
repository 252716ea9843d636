"""Load a model directory onto the device with torch through transformers' Auto classes.

Why not a plain `from_pretrained(dir)`: it gives no progress, so a pod loading 40 GB looks
exactly like a hung pod. Here the weights are read tensor by tensor (`tensorfile`: plain
reads into memory this process owns, never a memory map of the file, so a byte changed on
the cache volume later cannot change a serving replica's weights), each one converted to the
target dtype before the next is read, counting bytes as they land; then transformers builds
the model around that state dict (`from_pretrained(None, config=..., state_dict=...)`:
meta-device init, tied weights, buffers, no second copy on CPU; a GPU then gets one copy of
each tensor, the step `/status` calls "building model, copying to cuda:0"). The class comes
from the Auto mappings, `trust_remote_code` is never on, and pickle weights (.bin/.pt/...)
are refused unless explicitly allowed (then transformers loads them with `weights_only=True`,
without byte progress).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modeldeploy.hub import listing, safetensors_header
from modeldeploy.runtime import packing, pooling, tasks, tensorfile
from modeldeploy.runtime.errors import LoadCancelledError, LoadError
from modeldeploy.runtime.faults import is_device_fault
from modeldeploy.runtime.state import Reason

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
ProgressCallback = Callable[[int, int], None]
Header = dict[str, Any]


@dataclass(frozen=True)
class Checkpoint:
    """What a model directory holds, read once per start: the memory check and the loader
    share it, so config.json and every safetensors header are parsed once, not per step."""

    directory: Path
    config: Any
    task: str
    dtype: torch.dtype
    safetensors: list[Path]
    pickles: list[Path]
    headers: dict[Path, Header]

    @property
    def stored_bytes(self) -> int:
        """Tensor bytes as stored in the files (the loader's progress counts these)."""
        return sum(safetensors_header.tensor_bytes(h) for h in self.headers.values())


@dataclass
class LoadedModel:
    """Everything the engine needs; `release()` frees the device memory."""

    model: Any
    tokenizer: Any
    task: str
    device: torch.device
    dtype: torch.dtype
    architecture: str
    pooling: pooling.PoolingSpec | None
    bytes_loaded: int
    read_seconds: float = 0.0
    build_seconds: float = 0.0

    def release(self) -> None:
        self.model = None
        if self.device.type == "cuda":
            import gc

            gc.collect()
            torch.cuda.empty_cache()


def choose_device(requested: str) -> torch.device:
    """`auto` picks CUDA when a device is present; asking for `cuda` without one fails."""
    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if requested == "cuda":
        raise LoadError(Reason.DEVICE_UNAVAILABLE, "--device cuda: no CUDA device is visible")
    return torch.device("cpu")


def checkpoint_dtype(config: Any) -> torch.dtype | None:
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(value, torch.dtype):
        return value
    return DTYPES.get(str(value)) if value else None


def choose_dtype(requested: str, *, device: torch.device, config: Any) -> torch.dtype:
    """`auto`: the checkpoint's dtype, except float16 on CPU (slow there) becomes float32."""
    if requested != "auto":
        return DTYPES[requested]
    found = checkpoint_dtype(config) or torch.float32
    if device.type == "cpu" and found is torch.float16:
        return torch.float32
    return found


def read_config(directory: Path) -> Any:
    from transformers import AutoConfig

    path = directory / "config.json"
    if not path.is_file():
        raise LoadError(Reason.CONFIG_INVALID, f"{path}: missing (not a transformers model?)")
    try:
        return AutoConfig.from_pretrained(directory, trust_remote_code=False)
    except (ValueError, OSError, KeyError) as exc:
        raise LoadError(Reason.CONFIG_INVALID, f"{path}: {exc}") from exc


def weight_files(directory: Path, *, allow_pickle: bool) -> tuple[list[Path], list[Path]]:
    """(safetensors files, pickle files to load). Pickle only when no safetensors exist."""
    safetensors = safetensors_files(directory)
    pickles = sorted(p for p in directory.iterdir() if p.is_file() and listing.is_pickle(p.name))
    if safetensors:
        return safetensors, []
    if pickles and not allow_pickle:
        raise LoadError(
            Reason.PICKLE_REFUSED,
            f"{pickles[0]}: only pickle weights in {directory}; refused (pickle can run code); "
            f"pass --allow-pickle to load them",
        )
    if not pickles:
        raise LoadError(Reason.NO_WEIGHTS, f"{directory}: no *.safetensors weights found")
    return [], pickles


def safetensors_files(directory: Path) -> list[Path]:
    """The checkpoint's safetensors files: the shards its index names, else `model.safetensors`,
    else every `*.safetensors` (some repos also carry other formats' files beside them)."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LoadError(Reason.CONFIG_INVALID, f"{index}: unreadable index: {exc}") from exc
        return sorted({directory / name for name in weight_map.values()})
    single = directory / "model.safetensors"
    return [single] if single.is_file() else sorted(directory.glob("*.safetensors"))


def model_class(config: Any, task: str) -> Any:
    """The concrete class the Auto class would pick, resolved from its public mapping."""
    import transformers

    mapping = (
        transformers.MODEL_FOR_CAUSAL_LM_MAPPING
        if task == "text-generation"
        else transformers.MODEL_MAPPING
    )
    try:
        return mapping[type(config)]
    except KeyError as exc:
        raise LoadError(
            Reason.CONFIG_INVALID,
            f"config.json: model type {config.model_type!r} has no {task} class in transformers",
        ) from exc


def read_state_dict(
    files: list[Path],
    *,
    total: int,
    dtype: torch.dtype,
    on_progress: ProgressCallback,
    cancel: threading.Event,
) -> tuple[dict[str, torch.Tensor], int]:
    """Read every tensor into process memory at `dtype`, reporting (bytes done, bytes total).

    `total` is the checkpoint's tensor bytes as stored (from the headers), so the fraction is
    the share of the files' weights that is in memory, whatever the target dtype.
    """
    done, state_dict = 0, {}
    for path in files:
        try:
            with tensorfile.TensorFile(path) as handle:
                for entry in handle.entries:
                    if cancel.is_set():
                        raise LoadCancelledError()
                    state_dict[entry.name] = _convert(handle.read(entry), dtype=dtype)
                    done += entry.nbytes
                    on_progress(min(done, total), total)
        except (tensorfile.TensorFileError, OSError) as exc:
            raise LoadError(Reason.HEADER_UNREADABLE, f"{path}: {exc}") from exc
    on_progress(total, total)
    return state_dict, done


def read_headers(files: list[Path]) -> dict[Path, Header]:
    """Each file's safetensors header (shapes and dtypes, no weights read)."""
    headers = {}
    for path in files:
        try:
            headers[path] = safetensors_header.read_header(path)
        except (OSError, ValueError) as exc:
            raise LoadError(Reason.HEADER_UNREADABLE, f"{path}: {exc}") from exc
    return headers


def _convert(tensor: torch.Tensor, *, dtype: torch.dtype) -> torch.Tensor:
    """Floating-point tensors at `dtype`; integer tensors (ids, quantized weights) as stored.

    The stored tensor is dropped as soon as its converted copy exists, so a conversion costs
    one tensor's worth of memory at a time, not a second copy of the model."""
    target = dtype if tensor.is_floating_point() else tensor.dtype
    return tensor if tensor.dtype == target else tensor.to(dtype=target)


def load_tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
    except (ValueError, OSError) as exc:
        raise LoadError(Reason.LOAD_FAILED, f"{directory}: tokenizer unreadable: {exc}") from exc


def inspect(
    directory: Path,
    *,
    device: torch.device,
    dtype_choice: str,
    task_choice: str,
    allow_pickle: bool,
) -> Checkpoint:
    """Read what loading needs to decide (weight files, config, task, dtype, headers) once.

    A task the checkpoint cannot do fails here (TaskMismatch), before any weight is read."""
    safetensors, pickles = weight_files(directory, allow_pickle=allow_pickle)
    config = read_config(directory)
    task = tasks.detect(config, directory, task_choice)
    tasks.check(config, directory, task)
    return Checkpoint(
        directory=directory,
        config=config,
        task=task,
        dtype=choose_dtype(dtype_choice, device=device, config=config),
        safetensors=safetensors,
        pickles=pickles,
        headers=read_headers(safetensors),
    )


def load_model(
    checkpoint: Checkpoint,
    *,
    device: torch.device,
    on_progress: ProgressCallback,
    cancel: threading.Event,
    on_step: Callable[[str], None] = lambda _step: None,
) -> LoadedModel:
    """Tokenizer, weights (with progress), then the model; eval mode on `device`.

    `on_step` names each step as it starts, so /status tells reading tensors (the progress
    fraction) from the steps around it that have no byte count.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    directory, config, dtype = checkpoint.directory, checkpoint.config, checkpoint.dtype
    on_step("loading tokenizer")
    tokenizer = load_tokenizer(directory)
    cls = model_class(config, checkpoint.task)
    started = time.perf_counter()
    if checkpoint.safetensors:
        on_step("reading tensors")
        state_dict, loaded = read_state_dict(
            checkpoint.safetensors,
            total=checkpoint.stored_bytes,
            dtype=dtype,
            on_progress=on_progress,
            cancel=cancel,
        )
        read_done = time.perf_counter()
        on_step(
            "building model" if device.type == "cpu" else f"building model, copying to {device}"
        )
        model = _build(cls, config=config, dtype=dtype, state_dict=state_dict, device=device)
        del state_dict  # the model holds the tensors now; packing frees them as it goes
    else:
        loaded = sum(p.stat().st_size for p in checkpoint.pickles)
        read_done = started
        on_step("loading pickle weights")
        model = _from_pickle(cls, directory, dtype=dtype, device=device)
        on_progress(loaded, loaded)
    if cancel.is_set():
        raise LoadCancelledError()
    if packing.can_pack(device, dtype):
        on_step("packing weights for the CPU")
        packing.pack(model)
    spec = pooling.read_spec(directory) if checkpoint.task == "embeddings" else None
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        task=checkpoint.task,
        device=device,
        dtype=dtype,
        architecture=cls.__name__,
        pooling=spec,
        bytes_loaded=loaded,
        read_seconds=read_done - started,
        build_seconds=time.perf_counter() - read_done,
    )


def _build(
    cls: Any, *, config: Any, dtype: torch.dtype, state_dict: dict[str, Any], device: torch.device
) -> Any:
    """transformers builds the model on the meta device and adopts the host tensors (no
    copy); a GPU then gets one copy of each (`model.to`). Not `device_map`: that needs the
    `accelerate` package, and with tensors already on the GPU transformers would reserve the
    model's size there a second time (its caching-allocator warm-up)."""
    try:
        model = cls.from_pretrained(
            None, config=config, state_dict=state_dict, dtype=dtype, trust_remote_code=False
        )
        return model.to(device).eval()
    except (RuntimeError, ValueError, KeyError) as exc:
        if is_device_fault(exc):
            raise  # the pipeline reports DeviceFault
        raise LoadError(Reason.LOAD_FAILED, f"{config.name_or_path}: {exc}") from exc


def _from_pickle(cls: Any, directory: Path, *, dtype: torch.dtype, device: torch.device) -> Any:
    try:
        model = cls.from_pretrained(
            directory,
            dtype=dtype,
            use_safetensors=False,
            weights_only=True,
            trust_remote_code=False,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise LoadError(Reason.LOAD_FAILED, f"{directory}: pickle weights: {exc}") from exc
    return model.to(device).eval()  # pickle is the rare, explicitly allowed path: keep it plain
