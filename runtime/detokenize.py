"""Token ids to text, one token at a time, for streamed and whole completions alike.

Why incremental: decoding the whole sequence again after every new token costs O(n) per token,
O(n²) per completion. Here each step decodes only a short window (the tokens since the last
emitted text plus the chunk before it, so a tokenizer that treats a sequence's first token
specially, such as SentencePiece dropping its leading space, sees the same context), the way
vLLM and transformers' TextStreamer do. Text is emitted once it is stable: a window ending in
U+FFFD is an unfinished multi-byte character and waits for the next token. `close()` flushes
what is left, so the concatenated text equals one full `decode()` of the tokens.

Stop strings: the text ends before the first one (OpenAI's rule), and a tail that could still
grow into one is held back, so a stream never sends part of a stop string.

Runs on the engine thread with the rest of the torch and tokenizer work, never on the event
loop.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


def decode(tokenizer: Any, token_ids: list[int]) -> str:
    """Plain decode: special tokens dropped, spaces kept as the tokens have them.

    `clean_up_tokenization_spaces` is off: it rewrites " ." to "." across token boundaries, so
    text streamed token by token could never equal the whole decode.
    """
    text: str = tokenizer.decode(
        token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
    )
    return text


class Detokenizer:
    """Turns a token stream into text deltas, honouring stop strings and max_tokens."""

    def __init__(self, tokenizer: Any, *, stop: tuple[str, ...] = (), limit: int) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.limit = limit
        self.tokens: list[int] = []
        self.text = ""  # all stable text so far, cut at a stop string once one is seen
        self.stopped = False
        self._sent = 0  # characters of `text` handed out
        self._prefix = 0  # window start: the chunk before the unread tokens
        self._read = 0  # tokens up to here are in `text`

    @property
    def done(self) -> bool:
        return self.stopped or len(self.tokens) >= self.limit

    @property
    def finish_reason(self) -> str:
        return "length" if len(self.tokens) >= self.limit and not self.stopped else "stop"

    def add(self, token: int) -> str:
        """Take one token; return the new text to send (held back while it is ambiguous)."""
        self.tokens.append(token)
        if not self.stopped:
            self._extend(final=False)
        return self._release(final=False)

    def close(self) -> str:
        """The generation ended: flush everything still held back."""
        if not self.stopped:
            self._extend(final=True)
        return self._release(final=True)

    def _extend(self, *, final: bool) -> None:
        if self._read == len(self.tokens):
            return
        before = decode(self.tokenizer, self.tokens[self._prefix : self._read])
        window = decode(self.tokenizer, self.tokens[self._prefix :])
        if len(window) <= len(before) or (window.endswith(REPLACEMENT) and not final):
            return  # nothing new yet, or an unfinished character: wait for more tokens
        self._prefix, self._read = self._read, len(self.tokens)
        self._append(window[len(before) :])

    def _append(self, new: str) -> None:
        longest = max((len(s) for s in self.stop), default=0)
        start = max(0, len(self.text) - longest + 1)  # earlier text was searched already
        self.text += new
        hits = [i for i in (self.text.find(s, start) for s in self.stop) if i >= 0]
        if hits:
            self.text, self.stopped = self.text[: min(hits)], True

    def _release(self, *, final: bool) -> str:
        end = len(self.text)
        if not (final or self.done):
            end -= _stop_prefix_length(self.text, self.stop)
        end = max(end, self._sent)
        delta, self._sent = self.text[self._sent : end], end
        return delta


def _stop_prefix_length(text: str, stop: tuple[str, ...]) -> int:
    """Length of the longest tail of `text` that is the start of a stop string."""
    best = 0
    for marker in stop:
        for size in range(min(len(marker) - 1, len(text)), best, -1):
            if text.endswith(marker[:size]):
                best = size
                break
    return best
