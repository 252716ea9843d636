"""Parsing and validating OpenAI-style request bodies into typed records.

Beyond OpenAI's fields, completions take `ignore_eos` (as vLLM does): generate exactly
`max_tokens`, which benchmarks and tests need.

Kept apart from the handlers so every rule ("max_tokens is a positive integer", "n must be
1") is one readable line, and every violation is a `BadRequestError` whose message names the
field; the router turns it into 400 `{"error": {"message", "type"}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TOKENS_LIMIT = 4096
MAX_BATCH = 64


class BadRequestError(ValueError):
    """A malformed request: 400 with this message."""


@dataclass(frozen=True)
class CompletionRequest:
    prompts: tuple[str, ...]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    stream: bool
    model: str | None
    ignore_eos: bool = False


@dataclass(frozen=True)
class EmbeddingRequest:
    inputs: tuple[str, ...]
    model: str | None


def _number(body: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"'{key}' must be a number, got {type(value).__name__}")
    if not low <= float(value) <= high:
        raise BadRequestError(f"'{key}' must be between {low} and {high}, got {value}")
    return float(value)


def _integer(
    body: dict[str, Any], key: str, default: int | None, low: int, high: int
) -> int | None:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError(f"'{key}' must be an integer, got {value!r}")
    if not low <= value <= high:
        raise BadRequestError(f"'{key}' must be between {low} and {high}, got {value}")
    return value


def _strings(value: Any, key: str, *, allow_empty_text: bool) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise BadRequestError(f"'{key}' must be a string or a non-empty list of strings")
    if len(items) > MAX_BATCH:
        raise BadRequestError(f"'{key}' has {len(items)} items; at most {MAX_BATCH} per request")
    if not all(isinstance(i, str) for i in items):
        raise BadRequestError(f"'{key}' must contain only strings (token arrays are not supported)")
    if not allow_empty_text and any(not i for i in items):
        raise BadRequestError(f"'{key}' must not contain empty strings")
    return tuple(items)


def _model(body: dict[str, Any]) -> str | None:
    value = body.get("model")
    if value is not None and not isinstance(value, str):
        raise BadRequestError("'model' must be a string")
    return value


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object")
    return body


def completion(body: Any) -> CompletionRequest:
    body = _object(body)
    if "prompt" not in body:
        raise BadRequestError("'prompt' is required")
    if _integer(body, "n", 1, 1, 64) != 1:
        raise BadRequestError("'n' must be 1: one choice per prompt is served")
    stop = body.get("stop")
    stream, ignore_eos = body.get("stream", False), body.get("ignore_eos", False)
    if not isinstance(stream, bool) or not isinstance(ignore_eos, bool):
        raise BadRequestError("'stream' and 'ignore_eos' must be true or false")
    max_tokens = _integer(body, "max_tokens", 16, 1, MAX_TOKENS_LIMIT)
    assert max_tokens is not None
    return CompletionRequest(
        prompts=_strings(body["prompt"], "prompt", allow_empty_text=True),
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 1e-6, 1.0),
        seed=_integer(body, "seed", None, 0, 2**63 - 1),
        stop=() if stop is None else _strings(stop, "stop", allow_empty_text=False),
        stream=stream,
        model=_model(body),
        ignore_eos=ignore_eos,
    )


def embedding(body: Any) -> EmbeddingRequest:
    body = _object(body)
    if "input" not in body:
        raise BadRequestError("'input' is required")
    encoding = body.get("encoding_format", "float")
    if encoding != "float":
        raise BadRequestError(f"'encoding_format' {encoding!r} is not supported; use 'float'")
    return EmbeddingRequest(
        inputs=_strings(body["input"], "input", allow_empty_text=False), model=_model(body)
    )
