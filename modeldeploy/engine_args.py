"""The vLLM engine's arguments: which may pass, in what form, and what they mean to us.

`spec.runtime.engineArgs` and `modeldeploy serve --engine-arg=ARG` hand extra arguments to the
vLLM engine. Only tuning flags on `ALLOWED` pass: each with the kind of value it takes, checked
here, so a typo or a bad number is refused before a pod starts (`InvalidEngineArgs`), not
minutes later inside the engine. Everything else is refused, with its own explanation where
the flag is one we deliberately keep out: flags that would load other bytes than the verified
directory (`--load-format`, `--tokenizer`, `--revision`, `--chat-template`, ...), reach out
(`--download-dir`, `--hf-token`, ...), run code shipped with the model (`--trust-remote-code`)
or take over what modeldeploy sets itself (`--model`, `--port`, `--served-model-name`, ...).

Both forms are accepted, `--flag=value` as one item or `--flag` then `value` as two; underscores
in flag names read as dashes (vLLM's own parser does the same). `parse` returns the arguments
normalised to `--flag=value` / `--flag` items, which is what the engine is started with.

The ground floor: standard library only, read by the command line, the runtime (which starts the
engine) and the operator (which renders the arguments and sizes GPUs by them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final


class Kind(Enum):
    """What a flag takes."""

    SWITCH = "switch"  # no value (`--enforce-eager`)
    COUNT = "count"  # a whole number, 1 or more
    NUMBER = "number"  # a number, 0 or more
    FRACTION = "fraction"  # a number in (0, 1]
    NAME = "name"  # a plain name: letters, digits, '_', '-', '.'
    SIZE = "size"  # a number of bytes, whole or with a k/M/G/T suffix (`4G`, `1.5G`)


ALLOWED: Final[dict[str, Kind]] = {
    "--max-model-len": Kind.COUNT,
    "--gpu-memory-utilization": Kind.FRACTION,
    "--tensor-parallel-size": Kind.COUNT,
    "--max-num-seqs": Kind.COUNT,
    "--max-num-batched-tokens": Kind.COUNT,
    "--kv-cache-dtype": Kind.NAME,
    "--kv-cache-memory-bytes": Kind.SIZE,
    "--enable-prefix-caching": Kind.SWITCH,
    "--no-enable-prefix-caching": Kind.SWITCH,
    "--enable-chunked-prefill": Kind.SWITCH,
    "--no-enable-chunked-prefill": Kind.SWITCH,
    "--quantization": Kind.NAME,
    "--dtype": Kind.NAME,
    "--block-size": Kind.COUNT,
    "--swap-space": Kind.NUMBER,
    "--cpu-offload-gb": Kind.NUMBER,
    "--max-logprobs": Kind.COUNT,
    "--seed": Kind.NUMBER,
    "--enforce-eager": Kind.SWITCH,
    "--disable-log-stats": Kind.SWITCH,
    "--enable-auto-tool-choice": Kind.SWITCH,
    "--tool-call-parser": Kind.NAME,
    "--reasoning-parser": Kind.NAME,
}
"""The flags that pass, each with what it takes."""

REFUSED: Final[dict[str, str]] = {
    "--model": "modeldeploy gives the engine the verified model directory",
    "--tokenizer": "the tokenizer is the verified model directory's own",
    "--revision": "the revision is resolved and verified before the engine starts",
    "--code-revision": "code shipped with a model is never run",
    "--tokenizer-revision": "the tokenizer is the verified model directory's own",
    "--load-format": "the weights are the verified safetensors files, read as they are",
    "--download-dir": "the engine never downloads: it reads the verified directory offline",
    "--hf-token": "the engine never reaches the hub",
    "--trust-remote-code": "code shipped with a model is never run",
    "--chat-template": "the chat template is the verified tokenizer's own",
    "--hf-overrides": "the model's config is the verified one",
    "--served-model-name": "set from spec.runtime.servedModelName",
    "--host": "the engine listens on loopback, behind the runtime",
    "--port": "the engine listens on a port the runtime picks",
    "--api-key": "use spec.runtime.apiKeySecretRef (the runtime checks the key)",
}
"""Flags kept out on purpose, each with why (anything else not on `ALLOWED` is refused too)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_COUNT = re.compile(r"[0-9]+")
_SIZE = re.compile(r"[0-9]+|[0-9]+(\.[0-9]+)?[kKmMgGtT]")
_FLAG = re.compile(r"--[a-z0-9][a-z0-9\-]*")


class EngineArgsError(ValueError):
    """An argument that may not reach the engine; the message names it and says why."""


@dataclass(frozen=True)
class EngineArgs:
    """Checked engine arguments, normalised (`--flag=value` or `--flag`)."""

    argv: tuple[str, ...] = ()

    def value(self, flag: str) -> str | None:
        """The value given to `flag` (the last one when given twice), else None."""
        found: str | None = None
        for item in self.argv:
            name, _, value = item.partition("=")
            if name == flag:
                found = value
        return found

    def has(self, flag: str) -> bool:
        return any(item.partition("=")[0] == flag for item in self.argv)

    def with_default(self, flag: str, value: str) -> EngineArgs:
        """These arguments plus `flag=value` unless `flag` is already given."""
        if self.has(flag):
            return self
        return EngineArgs((*self.argv, f"{flag}={value}"))

    @property
    def tensor_parallel_size(self) -> int | None:
        text = self.value("--tensor-parallel-size")
        return int(text) if text is not None else None

    @property
    def gpu_memory_utilization(self) -> float | None:
        text = self.value("--gpu-memory-utilization")
        return float(text) if text is not None else None

    @property
    def max_model_len(self) -> int | None:
        text = self.value("--max-model-len")
        return int(text) if text is not None else None


def parse(items: Iterable[str]) -> EngineArgs:
    """Check `items` against the allow-list; raise EngineArgsError naming the first bad one."""
    pending = list(items)
    argv: list[str] = []
    position = 0
    while position < len(pending):
        item = pending[position]
        position += 1
        if not item.startswith("--"):
            raise EngineArgsError(
                f"{item!r}: expected a flag starting with '--' (a value must follow its flag)"
            )
        raw_flag, has_value, value = item.partition("=")
        flag = raw_flag.replace("_", "-").lower()
        if not _FLAG.fullmatch(flag):
            raise EngineArgsError(f"{item!r}: not a flag")
        kind = _kind_of(flag, item)
        if kind is Kind.SWITCH:
            if has_value:
                raise EngineArgsError(f"{flag} takes no value (got {item!r})")
            argv.append(flag)
            continue
        if not has_value:
            if position >= len(pending) or pending[position].startswith("--"):
                raise EngineArgsError(f"{flag} needs a value ({_describe(kind)})")
            value = pending[position]
            position += 1
        argv.append(f"{flag}={_checked(flag, kind, value)}")
    return EngineArgs(tuple(argv))


def _kind_of(flag: str, item: str) -> Kind:
    kind = ALLOWED.get(flag)
    if kind is not None:
        return kind
    why = REFUSED.get(flag)
    if why is not None:
        raise EngineArgsError(f"{flag} is not allowed: {why}")
    raise EngineArgsError(
        f"{item!r} is not on the allow-list of engine arguments ({', '.join(sorted(ALLOWED))})"
    )


def _checked(flag: str, kind: Kind, value: str) -> str:
    value = value.strip()
    if kind is Kind.NAME:
        if not _NAME.fullmatch(value) or len(value) > 64:
            raise EngineArgsError(f"{flag}={value!r}: expected {_describe(kind)}")
        return value
    if kind is Kind.SIZE:
        if not _SIZE.fullmatch(value) or float(value.rstrip("kKmMgGtT")) <= 0:
            raise EngineArgsError(f"{flag}={value!r}: expected {_describe(kind)}")
        return value
    if not (_COUNT if kind is Kind.COUNT else _NUMBER).fullmatch(value):
        raise EngineArgsError(f"{flag}={value!r}: expected {_describe(kind)}")
    number = float(value)
    if kind is Kind.COUNT:
        if number < 1:
            raise EngineArgsError(f"{flag}={value!r}: expected {_describe(kind)}")
        return str(int(value))  # "007" -> "7"
    if kind is Kind.FRACTION and not 0 < number <= 1:
        raise EngineArgsError(f"{flag}={value!r}: expected {_describe(kind)}")
    return value


def _describe(kind: Kind) -> str:
    return {
        Kind.SWITCH: "no value",
        Kind.COUNT: "a whole number, 1 or more",
        Kind.NUMBER: "a number, 0 or more",
        Kind.FRACTION: "a number above 0 and at most 1",
        Kind.NAME: "a plain name (letters, digits, '_', '-', '.')",
        Kind.SIZE: "a number of bytes above 0, or with a k/M/G/T suffix such as 4G",
    }[kind]
