"""`POST /v1/chat/completions`: OpenAI's chat endpoint over the completions' generation path.

The messages are rendered with the model's own chat template (the `chat_template` of its
tokenizer config, through the tokenizer's `apply_chat_template`, with the generation prompt
appended) and the text is encoded without adding special tokens, as transformers does for a
template: the template writes the BOS token itself when the model wants one. A model without
a template gets 400, never a guessed format. From there on the request is a completion:
the same sampling, stop strings, max_tokens, incremental detokenizer and scheduler
(`OpenAIRoutes.generation`), answered in the chat shapes:

- whole: `{"object": "chat.completion", "choices": [{"message": {"role": "assistant",
  "content"}, "finish_reason"}], "usage"}`;
- `stream: true`: `chat.completion.chunk` events: first `delta.role`, then content deltas
  (whole characters only), then an empty delta with `finish_reason`, then (with
  `stream_options.include_usage`) one chunk with empty `choices` and the usage, then
  `data: [DONE]`.

Without `max_tokens`/`max_completion_tokens` a reply may run to the end of the context (at
most `bodies.MAX_TOKENS_LIMIT` tokens), as OpenAI's chat does. Everything before the work
(503 before Ready, the wait for Ready, 400 for a bad body, 404 for an unknown model, 429 past
the queue bound, the deadline and the hang-up, the in-flight count that drain waits on) is
`OpenAIRoutes.serve` and `admission`, shared with the other routes.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from modeldeploy.runtime import bodies, openai
from modeldeploy.runtime.admission import Ticket

if TYPE_CHECKING:
    import torch

    from modeldeploy.runtime.engine import Engine

PATH = "/v1/chat/completions"


class ChatRoute:
    def __init__(self, routes: openai.OpenAIRoutes) -> None:
        self.routes = routes

    def attach(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        routes = self.routes

        async def work(
            engine: Engine, parsed: bodies.ChatRequest, ticket: Ticket
        ) -> web.StreamResponse:
            size = sum(len(str(m.get("content", ""))) for m in parsed.messages)
            ids, max_tokens = await routes.tokenize(lambda: _prompt(engine, parsed), size)
            answer = _Answer(routes.ctx.info.name, int(ids.shape[1]))
            params = openai.sampling(parsed, max_tokens)
            generation = routes.generation(ticket, engine, ids, params, parsed.stop)
            if parsed.stream:
                return await self._stream(ticket, generation, parsed, answer)
            decoder = await routes.finish(generation)
            return web.json_response(
                answer.whole(decoder.text, decoder.finish_reason, len(decoder.tokens))
            )

        return await routes.serve(request, "text-generation", bodies.chat, work)

    async def _stream(
        self,
        ticket: Ticket,
        generation: openai.Generation,
        parsed: bodies.ChatRequest,
        answer: _Answer,
    ) -> web.StreamResponse:
        usage: dict[str, Any] = {"usage": None} if parsed.include_usage else {}
        async with generation as (job, updates):
            response = await openai.open_stream(ticket.request)
            role = {"role": "assistant", "content": ""}
            await openai.sse(response, answer.chunk(role, None, usage))
            try:
                async for update in updates:
                    if update.text:
                        delta = {"content": update.text}
                        await openai.sse(response, answer.chunk(delta, None, usage))
            except openai.ServingError as exc:  # headers are sent: report it in-band
                return await openai.fail_stream(response, exc)
        decoder = job.decoder
        await openai.sse(response, answer.chunk({}, decoder.finish_reason, usage))
        if parsed.include_usage:
            last = {**answer.envelope("chat.completion.chunk"), "choices": []}
            await openai.sse(response, {**last, "usage": answer.usage(len(decoder.tokens))})
        return await openai.end_stream(response)


class _Answer:
    """The fields every piece of one reply shares: its id, creation time, model, prompt size."""

    def __init__(self, model: str, prompt_tokens: int) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.prompt_tokens = prompt_tokens

    def envelope(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def usage(self, completion_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }

    def whole(self, text: str, finish_reason: str, completion_tokens: int) -> dict[str, Any]:
        message = {"role": "assistant", "content": text, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        return {
            **self.envelope("chat.completion"),
            "choices": [choice],
            "usage": self.usage(completion_tokens),
        }

    def chunk(
        self, delta: dict[str, str], finish_reason: str | None, extra: dict[str, Any]
    ) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self.envelope("chat.completion.chunk"), "choices": [choice], **extra}


# -- engine-thread work (the tokenizer and torch; never on the event loop) -----------------
def _prompt(engine: Engine, parsed: bodies.ChatRequest) -> tuple[torch.Tensor, int]:
    """The rendered messages as ids on the device, and the max_tokens that applies."""
    import torch

    ids: list[int] = engine.loaded.tokenizer(
        render(engine.loaded.tokenizer, parsed.messages), add_special_tokens=False
    )["input_ids"]
    if not ids:
        raise bodies.BadRequestError("the chat template rendered the messages as nothing")
    tensor = torch.tensor([ids], dtype=torch.long)  # on the CPU, as Engine.encode_prompt
    max_tokens = parsed.max_tokens
    if max_tokens is None:  # up to the end of the context
        limit = openai.context_limit(engine)
        room = bodies.MAX_TOKENS_LIMIT if limit is None else limit - len(ids)
        max_tokens = max(1, min(bodies.MAX_TOKENS_LIMIT, room))
    return openai.within_context(engine, tensor, max_tokens), max_tokens


def render(tokenizer: Any, messages: tuple[dict[str, str], ...]) -> str:
    """The prompt text the model's own chat template makes of `messages`."""
    from jinja2 import TemplateError

    if getattr(tokenizer, "chat_template", None) is None:
        raise bodies.BadRequestError(
            "this model has no chat template (no 'chat_template' in its tokenizer config), so "
            "its chat format is unknown; send the formatted prompt to /v1/completions instead",
            param="messages",
        )
    try:
        text = tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
    except TemplateError as exc:  # the template's own raise_exception(...), or a broken one
        raise bodies.BadRequestError(
            f"the model's chat template refused the messages: {exc}", param="messages"
        ) from exc
    if not isinstance(text, str):
        raise TypeError(f"apply_chat_template returned {type(text).__name__}, not text")
    return text
