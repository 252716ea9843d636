"""Read a `/v1/chat/completions` stream the way OpenAI's client does: every `data:` event in
order, parsed, until `data: [DONE]` (which must come last)."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.runtime import servers


@dataclass
class ChatStream:
    content_type: str
    chunks: list[dict[str, Any]]  # every event before [DONE], parsed
    done: bool  # [DONE] came, and came last

    @property
    def choices(self) -> list[dict[str, Any]]:
        return [choice for chunk in self.chunks for choice in chunk["choices"]]

    @property
    def deltas(self) -> list[str]:
        """The content of each content delta, in order."""
        return [c["delta"]["content"] for c in self.choices[1:] if "content" in c["delta"]]

    @property
    def content(self) -> str:
        return "".join(self.deltas)


def stream_chat(server: servers.Serve, body: dict[str, Any]) -> ChatStream:
    request = urllib.request.Request(
        server.url + "/v1/chat/completions",
        data=json.dumps({**body, "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    chunks: list[dict[str, Any]] = []
    done = False
    with servers.urlopen(request, timeout=60) as response:
        content_type = response.headers["Content-Type"]
        for raw in response:
            line = raw.decode().strip()
            if not line:
                continue
            assert not done, f"an event after [DONE]: {line}"
            if line == "data: [DONE]":
                done = True
            else:
                assert line.startswith("data: "), line
                chunks.append(json.loads(line[len("data: ") :]))
    return ChatStream(content_type, chunks, done)
