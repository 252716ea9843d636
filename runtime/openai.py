"""OpenAI-style serving: `GET /v1/models`, `POST /v1/completions`, `POST /v1/embeddings`.

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
from collections.abc import Awaitable, Callable, Iterator
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
R = TypeVar("R", bodies.CompletionRequest, bodies.EmbeddingRequest)


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

    async def _call(self, func: Callable[[], T]) -> T:
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

        return await self._serve(request, "text-generation", bodies.completion, work)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        async def work(engine: Engine, parsed: bodies.EmbeddingRequest) -> web.StreamResponse:
            result = await self._call(lambda: engine.embed(list(parsed.inputs)))
            data = [
                {"object": "embedding", "index": i, "embedding": vector}
                for i, vector in enumerate(result.vectors)
            ]
            usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
            return web.json_response(
                {"object": "list", "data": data, "model": self.ctx.info.name, "usage": usage}
            )

        return await self._serve(request, "embeddings", bodies.embedding, work)

    async def _serve(
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
            return error(400, str(exc), "invalid_request_error")
        except ServingError as exc:
            return exc.response
        self.ctx.request_started()
        try:
            return await work(engine, parsed)
        except bodies.BadRequestError as exc:  # found while tokenizing the prompt
            return error(400, str(exc), "invalid_request_error")
        except ServingError as exc:
            return exc.response
        finally:
            self.ctx.request_finished()

    # -- completions -----------------------------------------------------------------------
    def _params(self, parsed: bodies.CompletionRequest) -> SamplingParams:
        from modeldeploy.runtime.engine import SamplingParams

        return SamplingParams(
            max_tokens=parsed.max_tokens,
            temperature=parsed.temperature,
            top_p=parsed.top_p,
            seed=parsed.seed,
            ignore_eos=parsed.ignore_eos,
        )

    async def _complete(self, engine: Engine, parsed: bodies.CompletionRequest) -> web.Response:
        choices, prompt_tokens, completion_tokens = [], 0, 0
        params = self._params(parsed)
        for index, prompt in enumerate(parsed.prompts):

            def work(prompt: str = prompt) -> tuple[int, detokenize.Detokenizer]:
                ids = _prompt_ids(engine, prompt, parsed.max_tokens)
                return int(ids.shape[1]), _finish(engine, engine.generate(ids, params), parsed)

            prompt_count, decoder = await self._call(work)
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
        params = self._params(parsed)
        ids = await self._call(lambda: _prompt_ids(engine, parsed.prompts[0], parsed.max_tokens))
        step = _Stepper(engine, engine.generate(ids, params), parsed)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        envelope = self._envelope()
        finished = False
        while not finished:
            try:
                delta, added, finished = await self._call(step)
            except ServingError as exc:  # headers are sent: report the failure in-band
                await response.write(f"data: {exc.response.text}\n\n".encode())
                await response.write_eof()
                return response
            self.metrics.tokens.inc(added)
            if delta:
                await _sse(response, {**envelope, "choices": [_choice(delta, 0, None)]})
        reason = step.decoder.finish_reason
        await _sse(response, {**envelope, "choices": [_choice("", 0, reason)]})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _choice(text: str, index: int, finish_reason: str | None) -> dict[str, Any]:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}


async def _sse(response: web.StreamResponse, payload: dict[str, Any]) -> None:
    await response.write(f"data: {json.dumps(payload)}\n\n".encode())


# -- engine-thread work (tokenizer and torch; never on the event loop) ---------------------
def _prompt_ids(engine: Engine, prompt: str, max_tokens: int) -> torch.Tensor:
    """Encode the prompt on the device; BadRequestError when empty or past the context."""
    ids = engine.encode_prompt(prompt)
    if ids.shape[1] == 0:
        raise bodies.BadRequestError("'prompt' is empty")
    limit = getattr(engine.loaded.model.config, "max_position_embeddings", None)
    if isinstance(limit, int) and ids.shape[1] + max_tokens > limit:
        raise bodies.BadRequestError(
            f"the prompt ({ids.shape[1]} tokens) plus max_tokens ({max_tokens}) exceeds "
            f"the model's context of {limit} tokens"
        )
    return ids


def _decoder(engine: Engine, parsed: bodies.CompletionRequest) -> detokenize.Detokenizer:
    return detokenize.Detokenizer(
        engine.loaded.tokenizer, stop=parsed.stop, limit=parsed.max_tokens
    )


def _finish(
    engine: Engine, tokens: Iterator[int], parsed: bodies.CompletionRequest
) -> detokenize.Detokenizer:
    """Run a whole completion; the decoder then holds the text, tokens and finish reason."""
    decoder = _decoder(engine, parsed)
    for token in tokens:
        decoder.add(token)
        if decoder.done:
            break
    decoder.close()
    return decoder


class _Stepper:
    """One streamed token per call: (text delta, tokens added, finished)."""

    def __init__(
        self, engine: Engine, tokens: Iterator[int], parsed: bodies.CompletionRequest
    ) -> None:
        self.tokens = tokens
        self.decoder = _decoder(engine, parsed)

    def __call__(self) -> tuple[str, int, bool]:
        token = next(self.tokens, None)
        if token is None:
            return self.decoder.close(), 0, True
        delta = self.decoder.add(token)
        if self.decoder.done:
            return delta + self.decoder.close(), 1, True
        return delta, 1, False
