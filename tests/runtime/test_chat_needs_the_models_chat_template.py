"""A model whose tokenizer config has no chat template is not guessed at: chat gets 400 in
OpenAI's error shape saying so (and where to go instead), while completions still serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime import servers
from tests.support import tinymodels


@pytest.fixture(scope="module")
def untemplated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Serve]:
    model = tmp_path_factory.mktemp("models") / "no-template-lm"
    tinymodels.build_causal_lm(model, chat_template=None)
    tinymodels.write_manifest_for(model, repo="tests/no-template-lm")
    serve = servers.start(model, tmp_path_factory.mktemp("no-template-server"))
    try:
        serve.wait_state("Ready")
        yield serve
    finally:
        serve.stop()


def test_chat_without_a_template_is_refused_with_the_reason(
    untemplated_server: servers.Serve,
) -> None:
    messages = [{"role": "user", "content": "hello"}]
    for stream in (False, True):
        reply = untemplated_server.post(
            "/v1/chat/completions", {"messages": messages, "stream": stream}
        )
        assert reply.status == 400, reply.body
        error = reply.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "messages"
        assert "no chat template" in error["message"] and "/v1/completions" in error["message"]
    completion = untemplated_server.post("/v1/completions", {"prompt": "hello", "max_tokens": 2})
    assert completion.status == 200, completion.body


def test_the_test_models_carry_their_template_in_the_tokenizer_config(tiny_lm: Path) -> None:
    import json

    config = json.loads((tiny_lm / "tokenizer_config.json").read_text())
    assert config["chat_template"] == tinymodels.CHAT_TEMPLATE
