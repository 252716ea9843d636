"""`POST /v1/chat/completions` on a Ready tiny Llama whose tokenizer config has a chat template:
OpenAI's answer and chunk shapes, usage in tokens, the completions' sampling, stop strings and
max_tokens, the same greedy text as `/v1/completions` on the rendered prompt, and a 400 naming
every OpenAI parameter that is not served (its default accepted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.runtime import servers
from tests.runtime.chat_streams import stream_chat
from tests.runtime.http_answers import ask

MESSAGES = [
    {"role": "system", "content": "you are a tiny model"},
    {"role": "user", "content": "hello world"},
]


def chat(server: servers.Serve, **body: object) -> Any:
    reply = server.post("/v1/chat/completions", {"messages": MESSAGES, **body})
    assert reply.status == 200, reply.body
    return reply.json()


def content_of(doc: Any) -> str:
    return str(doc["choices"][0]["message"]["content"])


def refusal(server: servers.Serve, body: dict[str, Any], status: int = 400) -> dict[str, Any]:
    reply = server.post("/v1/chat/completions", {"messages": MESSAGES, **body})
    assert reply.status == status, (body, reply.body)
    error: dict[str, Any] = reply.json()["error"]
    return error


@pytest.fixture(scope="module")
def rendered(tiny_lm: Path) -> str:
    """The prompt text the model's own template makes of MESSAGES (transformers renders it)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert isinstance(text, str)
    return text


def test_an_answer_has_openai_shape_and_usage_in_tokens(lm_server: servers.Serve) -> None:
    doc = chat(lm_server, temperature=0, max_tokens=6, ignore_eos=True)
    assert doc["object"] == "chat.completion" and doc["id"].startswith("chatcmpl-")
    assert doc["model"] == "tiny" and isinstance(doc["created"], int)
    [choice] = doc["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "length"
    assert choice["message"]["role"] == "assistant" and isinstance(content_of(doc), str)
    usage = doc["usage"]
    assert usage["completion_tokens"] == 6
    assert usage["total_tokens"] == usage["prompt_tokens"] + 6


def test_greedy_chat_equals_a_completion_of_the_rendered_prompt(
    lm_server: servers.Serve, tiny_lm: Path, rendered: str
) -> None:
    from transformers import AutoTokenizer

    assert rendered.startswith("<s><|system|>\nyou are a tiny model</s>")
    assert rendered.endswith("<|assistant|>\n")  # add_generation_prompt
    options = {"temperature": 0, "max_tokens": 12, "ignore_eos": True}
    doc = chat(lm_server, **options)
    reply = lm_server.post("/v1/completions", {"prompt": rendered, **options})
    assert reply.status == 200, reply.body
    completion = reply.json()
    assert content_of(doc) == completion["choices"][0]["text"]
    assert doc["usage"] == completion["usage"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    expected = len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert doc["usage"]["prompt_tokens"] == expected  # the template's BOS, not a second one


def test_max_tokens_and_max_completion_tokens_end_with_length(lm_server: servers.Serve) -> None:
    for field in ("max_tokens", "max_completion_tokens"):
        doc = chat(lm_server, temperature=0, ignore_eos=True, **{field: 3})
        assert doc["usage"]["completion_tokens"] == 3
        assert doc["choices"][0]["finish_reason"] == "length"
    both = chat(lm_server, temperature=0, ignore_eos=True, max_tokens=2, max_completion_tokens=2)
    assert both["usage"]["completion_tokens"] == 2
    error = refusal(lm_server, {"max_tokens": 2, "max_completion_tokens": 3})
    assert "disagree" in error["message"]


def test_without_max_tokens_a_reply_may_run_to_the_end_of_the_context(
    lm_server: servers.Serve,
) -> None:
    doc = chat(lm_server, temperature=0, ignore_eos=True)
    usage = doc["usage"]
    assert usage["total_tokens"] == 256  # the tiny Llama's max_position_embeddings
    assert doc["choices"][0]["finish_reason"] == "length"


def test_sampling_follows_the_seed(lm_server: servers.Serve) -> None:
    def sample(seed: int) -> str:
        return content_of(
            chat(lm_server, temperature=1.5, top_p=0.95, seed=seed, max_tokens=16, ignore_eos=True)
        )

    runs = {seed: sample(seed) for seed in (1, 2, 3)}
    assert sample(1) == runs[1]
    assert len(set(runs.values())) > 1, runs


def test_a_stop_string_ends_the_reply_before_it(lm_server: servers.Serve) -> None:
    options = {"temperature": 0, "max_tokens": 24, "ignore_eos": True}
    whole = content_of(chat(lm_server, **options))
    assert len(whole) >= 8, whole
    stop = whole[4:6]
    expected = whole[: whole.find(stop)]
    doc = chat(lm_server, stop=[stop, "never in the text"], **options)
    assert content_of(doc) == expected
    assert doc["choices"][0]["finish_reason"] == "stop"
    streamed = stream_chat(lm_server, {"messages": MESSAGES, "stop": stop, **options})
    assert streamed.content == expected
    assert streamed.choices[-1]["finish_reason"] == "stop"


def test_a_stream_sends_role_then_deltas_then_finish_reason_then_done(
    lm_server: servers.Serve,
) -> None:
    options = {"temperature": 0, "max_tokens": 10, "ignore_eos": True}
    whole = chat(lm_server, **options)
    stream = stream_chat(lm_server, {"messages": MESSAGES, **options})
    assert stream.content_type.startswith("text/event-stream")
    assert stream.done
    assert {c["object"] for c in stream.chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in stream.chunks}) == 1
    assert stream.chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["model"] == "tiny" and "usage" not in c for c in stream.chunks)
    first, *middle, last = stream.choices
    assert first["delta"] == {"role": "assistant", "content": ""}
    assert all(c["finish_reason"] is None and set(c["delta"]) == {"content"} for c in middle)
    assert last["delta"] == {} and last["finish_reason"] == "length"
    assert stream.content == content_of(whole)


def test_include_usage_adds_a_last_chunk_with_usage_and_no_choices(
    lm_server: servers.Serve,
) -> None:
    options = {"temperature": 0, "max_tokens": 5, "ignore_eos": True}
    whole = chat(lm_server, **options)
    stream = stream_chat(
        lm_server,
        {"messages": MESSAGES, "stream_options": {"include_usage": True}, **options},
    )
    assert stream.done
    *before, last = stream.chunks
    assert last["choices"] == [] and last["usage"] == whole["usage"]
    assert all(chunk["usage"] is None for chunk in before)
    assert before[-1]["choices"][0]["finish_reason"] == "length"
    without = stream_chat(
        lm_server, {"messages": MESSAGES, "stream_options": {"include_usage": False}, **options}
    )
    assert all("usage" not in chunk and chunk["choices"] for chunk in without.chunks)


UNSERVED = [  # (parameter, a value that asks for the feature, its default)
    ("logprobs", True, False),
    ("top_logprobs", 2, 0),
    ("tools", [{"type": "function", "function": {"name": "f"}}], []),
    ("tool_choice", "required", "none"),
    ("response_format", {"type": "json_object"}, {"type": "text"}),
    ("functions", [{"name": "f"}], []),
    ("function_call", "auto", "none"),
    ("logit_bias", {"5": 10}, {}),
    ("presence_penalty", 0.5, 0),
    ("frequency_penalty", -1, 0.0),
    ("n", 2, 1),
    ("audio", {"voice": "alloy", "format": "wav"}, None),
    ("modalities", ["text", "audio"], ["text"]),
    ("store", True, False),
]


@pytest.mark.parametrize(("name", "asked", "default"), UNSERVED, ids=[u[0] for u in UNSERVED])
def test_an_unserved_parameter_is_refused_by_name_and_its_default_accepted(
    lm_server: servers.Serve, name: str, asked: object, default: object
) -> None:
    error = refusal(lm_server, {name: asked, "max_tokens": 1})
    assert f"'{name}'" in error["message"] and error["param"] == name
    assert error["type"] == "invalid_request_error"
    for accepted in (default, None):
        chat(lm_server, max_tokens=1, **{name: accepted})


def test_bad_requests_get_400_naming_the_field(lm_server: servers.Serve) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"messages": None}, "'messages'"),
        ({"messages": []}, "'messages'"),
        ({"messages": ["hello"]}, "'messages[0]'"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "'messages[0].role'"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "no tools"),
        ({"messages": [{"role": "user"}]}, "'messages[0].content'"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "text only",
        ),
        ({"stream_options": {"include_usage": True}}, "'stream' is true"),
        ({"temperature": 3}, "'temperature'"),
        ({"max_tokens": 0}, "'max_tokens'"),
        ({"max_tokens": 300}, "context"),
        ({"stream": "yes"}, "'stream'"),
        ({"best_of": 2}, "Unrecognized request argument supplied: best_of"),
    ]
    for body, fragment in cases:
        error = refusal(lm_server, body)
        assert fragment in error["message"], (body, error)
    assert refusal(lm_server, {"model": "other"}, 404)["code"] == "model_not_found"


def test_text_parts_names_and_the_served_names_are_accepted(lm_server: servers.Serve) -> None:
    parts = [{"type": "text", "text": "hello"}, {"type": "text", "text": "world"}]
    message = {"role": "user", "content": parts, "name": "ann", "tool_calls": None}
    for model in ("tiny", "tests/tiny-lm", None):
        doc = chat(lm_server, messages=[message], model=model, max_tokens=1, user="u-1")
        assert doc["usage"]["completion_tokens"] == 1


def test_an_embeddings_model_answers_chat_as_it_answers_completions(
    encoder_server: servers.Serve,
) -> None:
    chat_reply = encoder_server.post("/v1/chat/completions", {"messages": MESSAGES})
    completion_reply = encoder_server.post("/v1/completions", {"prompt": "hello"})
    assert chat_reply.status == completion_reply.status == 400
    assert chat_reply.json()["error"]["message"] == completion_reply.json()["error"]["message"]
    assert "/v1/embeddings" in chat_reply.json()["error"]["message"]


def test_before_ready_chat_gets_503_with_retry_after(tiny_lm: Path, tmp_path: Path) -> None:
    serve = servers.start(tiny_lm, tmp_path, slow_storage=0.25)  # ~5 s of Loading
    try:
        serve.wait_listening()
        serve.wait_state("Loading")
        answer = ask(serve, "POST", "/v1/chat/completions", {"messages": MESSAGES})
        assert answer.status == 503, answer.body
        assert answer.retry_after is not None and answer.retry_after >= 1
        assert answer.json()["error"]["state"] in ("Loading", "WarmingUp")
        serve.wait_state("Ready")
        assert chat(serve, max_tokens=2)["object"] == "chat.completion"
    finally:
        serve.stop()
