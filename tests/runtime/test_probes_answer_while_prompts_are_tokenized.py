"""Tokenizing a long prompt runs on the tokenizer thread, not the event loop: while a huge
prompt is being encoded (about a second of tokenizer work), liveness still answers in
milliseconds."""

from __future__ import annotations

import threading
import time

from tests.runtime import servers

PROMPT = "the quick brown fox jumps over the lazy dog " * 25_000  # ~1.1 MB, ~700k tokens


def test_livez_answers_while_a_huge_prompt_is_tokenized(lm_server: servers.Serve) -> None:
    replies: list[servers.Reply] = []
    sender = threading.Thread(
        target=lambda: replies.append(
            lm_server.post("/v1/completions", {"prompt": PROMPT, "max_tokens": 1})
        )
    )
    sender.start()
    probes: list[float] = []
    while sender.is_alive():
        probes.append(lm_server.get("/livez").seconds)
        time.sleep(0.01)
    sender.join()
    (reply,) = replies
    assert reply.status == 400 and "context" in reply.json()["error"]["message"]
    assert reply.seconds > 0.3, "the prompt must take a while to tokenize for this to mean much"
    assert len(probes) >= 3
    assert max(probes) < reply.seconds / 3, (max(probes), reply.seconds)
