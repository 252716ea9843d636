"""Streamed chat deltas never split a multi-byte character: a model scripted to answer "€😀ñ"
(nine byte-level tokens, each character spread over two to four of them) streams whole
characters only, and together they are the answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime import servers
from tests.runtime.chat_streams import stream_chat
from tests.support import tinymodels

REPLY = "€😀ñ"


@pytest.fixture(scope="module")
def scripted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Serve]:
    model = tinymodels.build_scripted_lm(tmp_path_factory.mktemp("models") / "scripted", REPLY)
    tinymodels.write_manifest_for(model, repo="tests/scripted-lm")
    serve = servers.start(model, tmp_path_factory.mktemp("scripted-server"))
    try:
        serve.wait_state("Ready")
        yield serve
    finally:
        serve.stop()


def test_streamed_deltas_are_whole_characters(scripted_server: servers.Serve) -> None:
    body = {"messages": [{"role": "user", "content": "hello"}], "temperature": 0}
    stream = stream_chat(scripted_server, body)
    assert stream.done and stream.content == REPLY
    assert all(delta and "\ufffd" not in delta for delta in stream.deltas), stream.deltas
    assert stream.choices[-1]["finish_reason"] == "stop"  # the script ends with end-of-sequence
    reply = scripted_server.post("/v1/chat/completions", body)
    doc = reply.json()
    assert doc["choices"][0]["message"]["content"] == REPLY
    assert doc["usage"]["completion_tokens"] == 10  # nine byte tokens and end-of-sequence
