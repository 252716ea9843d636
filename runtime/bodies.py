"""Parsing and validating OpenAI-style request bodies into typed records.

Beyond OpenAI's fields, completions and chat take `ignore_eos` (as vLLM does): generate
exactly `max_tokens`, which benchmarks and tests need.

Chat and completions refuse what they do not implement instead of ignoring it: an OpenAI
parameter the endpoint does not serve (chat's `tools`, `logprobs`, `response_format`, ...;
completions' `echo`, `best_of`, `suffix`, ...) is accepted only when null or at OpenAI's
default (`DEFAULTS_ONLY`, `COMPLETION_DEFAULTS_ONLY`), and a name OpenAI does not know is
refused as OpenAI refuses it ("Unrecognized request argument").

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
    """A malformed request: 400 with this message (and `param`, the field, when one is named)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


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
class ChatRequest:
    messages: tuple[dict[str, str], ...]  # {"role", "content"[, "name"]}, as templates read them
    max_tokens: int | None  # None: up to the end of the model's context
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool
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


# -- completions (OpenAI's legacy completions API) ------------------------------------------
COMPLETION_SERVED = (
    "prompt", "model", "max_tokens", "temperature", "top_p", "seed", "stop", "n", "stream",
    "ignore_eos",
)  # fmt: skip
COMPLETION_LABELS = ("user",)  # an end-user identifier: changes nothing in the answer
# Its own unserved parameters, accepted when null or at the value that changes nothing: one
# candidate per choice, no echoed prompt, no text after the insertion point, no log
# probabilities (0 still returns the sampled token's), no biases or penalties, no usage chunk.
COMPLETION_DEFAULTS_ONLY: dict[str, tuple[Any, ...]] = {
    "best_of": (1,),
    "echo": (False,),
    "suffix": ("",),
    "logprobs": (),
    "logit_bias": ({},),
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "stream_options": ({}, {"include_usage": False}),
}


def completion(body: Any) -> CompletionRequest:
    body = _object(body)
    _refuse_unserved(
        body, served=COMPLETION_SERVED, labels=COMPLETION_LABELS, unserved=COMPLETION_DEFAULTS_ONLY
    )
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


# -- chat ----------------------------------------------------------------------------------
CHAT_ROLES = ("system", "developer", "user", "assistant")
MAX_MESSAGES = 1024
CHAT_SERVED = (
    "messages", "model", "max_tokens", "max_completion_tokens", "temperature", "top_p",
    "seed", "stop", "n", "stream", "stream_options", "ignore_eos",
)  # fmt: skip
# Identifiers that change nothing in the answer (abuse monitoring, cache routing): any string.
CHAT_LABELS = ("user", "safety_identifier", "prompt_cache_key")
# OpenAI parameters not implemented: accepted when null or one of these values, 400 otherwise.
DEFAULTS_ONLY: dict[str, tuple[Any, ...]] = {
    "logprobs": (False,),
    "top_logprobs": (0,),
    "tools": ([],),
    "tool_choice": ("none",),
    "parallel_tool_calls": (True,),
    "functions": ([],),
    "function_call": ("none",),
    "response_format": ({"type": "text"},),
    "logit_bias": ({},),
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "audio": (),
    "modalities": (["text"],),
    "prediction": (),
    "reasoning_effort": (),
    "verbosity": (),
    "web_search_options": (),
    "store": (False,),
    "metadata": ({},),
    "service_tier": ("auto", "default"),
}
MESSAGE_DEFAULTS_ONLY: dict[str, tuple[Any, ...]] = {
    "tool_calls": ([],),
    "function_call": (),
    "refusal": (),
    "audio": (),
}


def chat(body: Any) -> ChatRequest:
    body = _object(body)
    _refuse_unserved(body, served=CHAT_SERVED, labels=CHAT_LABELS, unserved=DEFAULTS_ONLY)
    if "messages" not in body:
        raise BadRequestError("'messages' is required", param="messages")
    if _integer(body, "n", 1, 1, 64) != 1:
        raise BadRequestError("'n' must be 1: one choice per request is served", param="n")
    stream, stop = _flag(body, "stream"), body.get("stop")
    return ChatRequest(
        messages=_messages(body["messages"]),
        max_tokens=_chat_max_tokens(body),
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 1e-6, 1.0),
        seed=_integer(body, "seed", None, 0, 2**63 - 1),
        stop=() if stop is None else _strings(stop, "stop", allow_empty_text=False),
        stream=stream,
        include_usage=_include_usage(body.get("stream_options"), stream=stream),
        model=_model(body),
        ignore_eos=_flag(body, "ignore_eos"),
    )


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequestError(f"'{key}' must be true or false", param=key)
    return value


def _refuse_unserved(
    body: dict[str, Any],
    *,
    served: tuple[str, ...],
    labels: tuple[str, ...],
    unserved: dict[str, tuple[Any, ...]],
) -> None:
    """An endpoint's parameters: served, labels (any string), defaults only, or unrecognized."""
    for key, value in body.items():
        if key in served:
            continue
        if key in labels:
            if value is not None and not isinstance(value, str):
                raise BadRequestError(f"'{key}' must be a string", param=key)
        elif key in unserved:
            _default_only(key, value, unserved[key])
        else:
            raise BadRequestError(f"Unrecognized request argument supplied: {key}", param=key)


def _default_only(name: str, value: Any, defaults: tuple[Any, ...]) -> None:
    """Null or a default passes; anything else is a feature this runtime does not serve."""
    if value is None or any(_same(value, d) for d in defaults):
        return
    allowed = " or ".join(["null", *(repr(d) for d in defaults)])
    raise BadRequestError(
        f"'{name}' is not supported by this runtime (got {value!r}); leave it out or send "
        f"{allowed}",
        param=name,
    )


def _same(value: Any, default: Any) -> bool:
    """Equal and of the same kind (False is not 0; 0 and 0.0 are the same number)."""
    return bool(value == default) and isinstance(value, bool) == isinstance(default, bool)


def _chat_max_tokens(body: dict[str, Any]) -> int | None:
    """`max_completion_tokens` (OpenAI's current name) or `max_tokens` (its older one)."""
    old = _integer(body, "max_tokens", None, 1, MAX_TOKENS_LIMIT)
    new = _integer(body, "max_completion_tokens", None, 1, MAX_TOKENS_LIMIT)
    if old is not None and new is not None and old != new:
        raise BadRequestError(
            f"'max_tokens' ({old}) and 'max_completion_tokens' ({new}) disagree; send one",
            param="max_completion_tokens",
        )
    return new if new is not None else old


def _include_usage(options: Any, *, stream: bool) -> bool:
    if options is None:
        return False
    if not stream:
        raise BadRequestError(
            "'stream_options' is only allowed when 'stream' is true", param="stream_options"
        )
    if not isinstance(options, dict):
        raise BadRequestError("'stream_options' must be an object", param="stream_options")
    for key, value in options.items():
        if key == "include_usage":
            if value is not None and not isinstance(value, bool):
                raise BadRequestError(
                    "'stream_options.include_usage' must be true or false",
                    param="stream_options.include_usage",
                )
        elif key == "include_obfuscation":
            _default_only(f"stream_options.{key}", value, (False,))
        else:
            raise BadRequestError(
                f"Unrecognized request argument supplied: stream_options.{key}",
                param=f"stream_options.{key}",
            )
    return bool(options.get("include_usage"))


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise BadRequestError("'messages' must be a non-empty list of messages", param="messages")
    if len(value) > MAX_MESSAGES:
        raise BadRequestError(
            f"'messages' has {len(value)} items; at most {MAX_MESSAGES}", param="messages"
        )
    return tuple(_message(item, f"messages[{i}]") for i, item in enumerate(value))


def _message(item: Any, where: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise BadRequestError(f"'{where}' must be an object with 'role' and 'content'", param=where)
    role = item.get("role")
    if role in ("tool", "function"):
        raise BadRequestError(
            f"'{where}.role' {role!r} is not supported: this runtime serves no tools",
            param=f"{where}.role",
        )
    if role not in CHAT_ROLES:
        raise BadRequestError(
            f"'{where}.role' must be one of {', '.join(CHAT_ROLES)}; got {role!r}",
            param=f"{where}.role",
        )
    message = {"role": role, "content": _content(item.get("content"), f"{where}.content")}
    for key, value in item.items():
        if key == "name" and value is not None:
            if not isinstance(value, str):
                raise BadRequestError(f"'{where}.name' must be a string", param=f"{where}.name")
            message["name"] = value
        elif key in MESSAGE_DEFAULTS_ONLY:
            _default_only(f"{where}.{key}", value, MESSAGE_DEFAULTS_ONLY[key])
        elif key not in ("role", "content", "name"):
            raise BadRequestError(
                f"Unrecognized request argument supplied: {where}.{key}", param=f"{where}.{key}"
            )
    return message


def _content(value: Any, where: str) -> str:
    """A string, or a list of text parts joined by newlines (as vLLM joins them)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise BadRequestError(
            f"'{where}' must be a string or a non-empty list of text parts", param=where
        )
    texts = []
    for i, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            raise BadRequestError(
                f"'{where}[{i}]' must be {{'type': 'text', 'text': ...}}; this runtime takes "
                f"text only (got type {kind!r})",
                param=f"{where}[{i}]",
            )
        texts.append(part["text"])
    return "\n".join(texts)
