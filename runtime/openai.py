"""OpenAI-style serving: `GET /v1/models`, `POST /v1/completions`, `POST /v1/embeddings`,
and what every `/v1` endpoint shares (`serve`, `call`, the streaming and decoding helpers);
`POST /v1/chat/completions` is its own module (`routes/chat.py`) on these.

Rules from the contract: before Ready (and while Draining) every /v1 request gets 503 with
the state and, until Failed, a `Retry-After` estimate (see `waiting`); a malformed request
gets 400 `{"error": {"message", "type"}}`; `model` is optional and, when given, must be a
served name (404 otherwise, as OpenAI does). `/v1/models` also names the repo, revision and
commit behind the served name. Torch and tokenizer work (encoding the prompt, every forward
pass, decoding tokens) runs on one engine thread, never on the event loop, so probes answer
while a long completion streams. A fault that means the device is unusable (a CUDA error)
moves the runtime to Failed, so liveness goes 503 and Kubernetes restarts the pod.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from modeldeploy.runtime import bodies, detokenize, priority, waiting
from modeldeploy.runtime.apierrors import error
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.faults import is_device_fault
from modeldeploy.runtime.metrics import RuntimeMetrics
from modeldeploy.runtime.state import Reason

if TYPE_CHECKING:
    import torch

    from modeldeploy.runtime.engine import Engine, SamplingParams

T = TypeVar("T")
R = TypeVar("R", bodies.CompletionRequest, bodies.EmbeddingRequest, bodies.ChatRequest)


class ServingError(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


class OpenAIRoutes:
    def __init__(self, ctx: RuntimeContext, metrics: RuntimeMetrics) -> None:
        self.ctx = ctx
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="engine",
            initializer=priority.lower_current_thread,
            initargs=(ctx.config.worker_niceness,),
        )
        self.created = int(time.time())

    def attach(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/embeddings", self.embeddings)

    # -- helpers ---------------------------------------------------------------------------
    def _engine(self, task: str | None = None) -> Engine:
        engine = self.ctx.serving_engine()
        if engine is None:
            raise ServingError(waiting.not_ready(self.ctx))
        if task is not None and engine.task != task:
            other = "/v1/completions" if engine.task == "text-generation" else "/v1/embeddings"
            raise ServingError(
                error(400, f"this model serves {engine.task}; use {other}", "invalid_request_error")
            )
        return engine

    def _check_model(self, name: str | None) -> None:
        if name is not None and name not in self.ctx.served_names:
            raise ServingError(
                error(
                    404,
                    f"the model {name!r} does not exist; served: {list(self.ctx.served_names)}",
                    "invalid_request_error",
                    code="model_not_found",
                )
            )

    async def _body(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ServingError(
                error(400, f"the body is not valid JSON: {exc}", "invalid_request_error")
            ) from exc

    async def call(self, func: Callable[[], T]) -> T:
        """Run torch work on the engine thread; classify faults."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, func)
        except RuntimeError as exc:  # NonFiniteOutputError and torch's errors
            raise ServingError(self._fault(exc)) from exc

    def _fault(self, exc: BaseException) -> web.Response:
        if is_device_fault(exc):
            device = self.ctx.info.device or "device"
            self.ctx.machine.fail_if_live(Reason.DEVICE_FAULT, f"{device}: {exc}")
            return error(503, f"the device failed: {exc}", "device_fault")
        return error(500, f"inference failed: {exc}", "internal_error")

    # -- handlers --------------------------------------------------------------------------
    async def models(self, _request: web.Request) -> web.Response:
        try:
            self._engine()
        except ServingError as exc:
            return exc.response
        info = self.ctx.info
        # What really serves under the name (the name stays whatever candidate serves).
        source = {
            "root": info.repo or str(info.directory),
            "repo": info.repo,
            "revision": info.revision,
            "commit": info.commit,
            "verified": info.verified,
        }
        data = [
            {
                "id": name,
                "object": "model",
                "created": self.created,
                "owned_by": "modeldeploy",
                **source,
            }
            for name in self.ctx.served_names
        ]
        return web.json_response({"object": "list", "data": data})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        async def work(engine: Engine, parsed: bodies.CompletionRequest) -> web.StreamResponse:
            if parsed.stream:
                return await self._stream_completion(request, engine, parsed)
            return await self._complete(engine, parsed)

        return await self.serve(request, "text-generation", bodies.completion, work)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        async def work(engine: Engine, parsed: bodies.EmbeddingRequest) -> web.StreamResponse:
            result = await self.call(lambda: engine.embed(list(parsed.inputs)))
            data = [
                {"object": "embedding", "index": i, "embedding": vector}
                for i, vector in enumerate(result.vectors)
            ]
            usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
            return web.json_response(
                {"object": "list", "data": data, "model": self.ctx.info.name, "usage": usage}
            )

        return await self.serve(request, "embeddings", bodies.embedding, work)

    async def serve(
        self,
        request: web.Request,
        task: str,
        parse: Callable[[Any], R],
        work: Callable[[Engine, R], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """The shared shape of a serving request: 503 before Ready, 400 for a bad body or
        prompt, the in-flight count (drain waits on it) around the work itself."""
        try:
            engine = self._engine(task)
            parsed = parse(await self._body(request))
            self._check_model(parsed.model)
        except bodies.BadRequestError as exc:
            return _bad_request(exc)
        except ServingError as exc:
            return exc.response
        self.ctx.request_started()
        try:
            return await work(engine, parsed)
        except bodies.BadRequestError as exc:  # found while tokenizing the prompt
            return _bad_request(exc)
        except ServingError as exc:
            return exc.response
        finally:
            self.ctx.request_finished()

    async def deltas(self, step: Stepper) -> AsyncIterator[str]:
        """Run a streamed generation on the engine thread; yield each non-empty text delta."""
        finished = False
        while not finished:
            delta, added, finished = await self.call(step)
            self.metrics.tokens.inc(added)
            if delta:
                yield delta

    # -- completions -----------------------------------------------------------------------
    async def _complete(self, engine: Engine, parsed: bodies.CompletionRequest) -> web.Response:
        choices, prompt_tokens, completion_tokens = [], 0, 0
        params = sampling(parsed, parsed.max_tokens)
        for index, prompt in enumerate(parsed.prompts):

            def work(prompt: str = prompt) -> tuple[int, detokenize.Detokenizer]:
                ids = _prompt_ids(engine, prompt, parsed.max_tokens)
                return int(ids.shape[1]), finish(engine, ids, params, parsed.stop)

            prompt_count, decoder = await self.call(work)
            self.metrics.tokens.inc(len(decoder.tokens))
            prompt_tokens += prompt_count
            completion_tokens += len(decoder.tokens)
            choices.append(_choice(decoder.text, index, decoder.finish_reason))
        return web.json_response(
            {
                **self._envelope(),
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.ctx.info.name,
        }

    async def _stream_completion(
        self, request: web.Request, engine: Engine, parsed: bodies.CompletionRequest
    ) -> web.StreamResponse:
        if len(parsed.prompts) != 1:
            raise bodies.BadRequestError("streaming takes exactly one prompt")
        params = sampling(parsed, parsed.max_tokens)
        ids = await self.call(lambda: _prompt_ids(engine, parsed.prompts[0], parsed.max_tokens))
        step = Stepper(engine, ids, params, parsed.stop)
        response = await open_stream(request)
        envelope = self._envelope()
        try:
            async for delta in self.deltas(step):
                await sse(response, {**envelope, "choices": [_choice(delta, 0, None)]})
        except ServingError as exc:  # headers are sent: report the failure in-band
            return await fail_stream(response, exc)
        reason = step.decoder.finish_reason
        await sse(response, {**envelope, "choices": [_choice("", 0, reason)]})
        return await end_stream(response)


def _choice(text: str, index: int, finish_reason: str | None) -> dict[str, Any]:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}


def _bad_request(exc: bodies.BadRequestError) -> web.Response:
    return error(400, str(exc), "invalid_request_error", param=exc.param)


def sampling(
    parsed: bodies.CompletionRequest | bodies.ChatRequest, max_tokens: int
) -> SamplingParams:
    from modeldeploy.runtime.engine import SamplingParams

    return SamplingParams(
        max_tokens=max_tokens,
        temperature=parsed.temperature,
        top_p=parsed.top_p,
        seed=parsed.seed,
        ignore_eos=parsed.ignore_eos,
    )


# -- server-sent events (a stream's headers go out before its first token) -----------------
async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    return response


async def sse(response: web.StreamResponse, payload: dict[str, Any]) -> None:
    await response.write(f"data: {json.dumps(payload)}\n\n".encode())


async def fail_stream(response: web.StreamResponse, exc: ServingError) -> web.StreamResponse:
    """The status line is sent: the error goes in-band, then the stream closes."""
    await response.write(f"data: {exc.response.text}\n\n".encode())
    await response.write_eof()
    return response


async def end_stream(response: web.StreamResponse) -> web.StreamResponse:
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


# -- engine-thread work (tokenizer and torch; never on the event loop) ---------------------
def _prompt_ids(engine: Engine, prompt: str, max_tokens: int) -> torch.Tensor:
    """Encode the prompt on the device; BadRequestError when empty or past the context."""
    ids = engine.encode_prompt(prompt)
    if ids.shape[1] == 0:
        raise bodies.BadRequestError("'prompt' is empty")
    return within_context(engine, ids, max_tokens)


def context_limit(engine: Engine) -> int | None:
    """The model's context in tokens, when its config says."""
    limit = getattr(engine.loaded.model.config, "max_position_embeddings", None)
    return limit if isinstance(limit, int) else None


def within_context(engine: Engine, ids: torch.Tensor, max_tokens: int) -> torch.Tensor:
    """`ids` when the prompt and max_tokens fit the context; BadRequestError otherwise."""
    limit = context_limit(engine)
    if limit is not None and ids.shape[1] + max_tokens > limit:
        raise bodies.BadRequestError(
            f"the prompt ({ids.shape[1]} tokens) plus max_tokens ({max_tokens}) exceeds "
            f"the model's context of {limit} tokens"
        )
    return ids


def _decoder(
    engine: Engine, params: SamplingParams, stop: tuple[str, ...]
) -> detokenize.Detokenizer:
    return detokenize.Detokenizer(engine.loaded.tokenizer, stop=stop, limit=params.max_tokens)


def finish(
    engine: Engine, ids: torch.Tensor, params: SamplingParams, stop: tuple[str, ...]
) -> detokenize.Detokenizer:
    """Run a whole generation; the decoder then holds the text, tokens and finish reason."""
    decoder = _decoder(engine, params, stop)
    for token in engine.generate(ids, params):
        decoder.add(token)
        if decoder.done:
            break
    decoder.close()
    return decoder


class Stepper:
    """A streamed generation, one token per call: (text delta, tokens added, finished)."""

    def __init__(
        self, engine: Engine, ids: torch.Tensor, params: SamplingParams, stop: tuple[str, ...]
    ) -> None:
        self.tokens = engine.generate(ids, params)
        self.decoder = _decoder(engine, params, stop)

    def __call__(self) -> tuple[str, int, bool]:
        token = next(self.tokens, None)
        if token is None:
            return self.decoder.close(), 0, True
        delta = self.decoder.add(token)
        if self.decoder.done:
            return delta + self.decoder.close(), 1, True
        return delta, 1, False
