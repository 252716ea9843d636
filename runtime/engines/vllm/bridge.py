"""vLLM's OpenAI API on the runtime's port: every `/v1/*` request relayed to the engine.

The runtime's own steps come first (middlewares: request metrics, the API key, usage, the wait
for Ready), then here: 503 unless Ready, the admission bound (429 with Retry-After past
`--max-num-seqs` running + `--max-queue` waiting), the in-flight count the drain waits for,
and the deadline (`--request-timeout`: 504, or an error event ending a started stream). The
request goes to the engine as it came (its `Authorization` header, the runtime's key, stays
here); the answer comes back as vLLM wrote it: status, body, streamed chunks as they arrive.
A client that hangs up has its engine request closed, which vLLM takes as an abort.

`engine_metrics` gives `/metrics` the engine's own families; `exposition.merge` drops those
whose names the runtime already exposes (both processes export `process_*` and `python_*`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

from modeldeploy.runtime import waiting
from modeldeploy.runtime.admission import CLIENT_CLOSED, HANG_UP_CHECK_SECONDS, Admission, Ticket
from modeldeploy.runtime.apierrors import ServingError, error
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.engines.vllm.steps import EngineHandle
from modeldeploy.runtime.engines.vllm.upstream import Answer, EngineClient
from modeldeploy.runtime.state import State

log = logging.getLogger("modeldeploy.runtime")

T = TypeVar("T")

# Request headers that stay here: the runtime's key, and what belongs to one connection.
DROPPED_REQUEST_HEADERS = frozenset(
    {
        "authorization",
        "host",
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "te",
        "upgrade",
        "proxy-authorization",
        "accept-encoding",
    }
)
PASSED_RESPONSE_HEADERS = ("Content-Type", "X-Request-Id", "Retry-After")
METRICS_TIMEOUT_SECONDS = 2.0
# vLLM's OpenAI paths, routed by name so that request metrics are per endpoint; any other
# /v1 path is relayed too, counted under `/v1/{tail}`.
NAMED_PATHS = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v1/responses",
)


class Bridge:
    def __init__(self, ctx: RuntimeContext) -> None:
        self.ctx = ctx
        # Made with the engine's handle, which knows --max-num-seqs (checked while Loading).
        self._admission: Admission | None = None
        self._client: EngineClient | None = None

    def attach(self, app: web.Application) -> None:
        for path in NAMED_PATHS:  # their own route each: the request metrics name them
            app.router.add_route("*", path, self.relay)
        app.router.add_route("*", "/v1/{tail:.*}", self.relay)
        app.on_cleanup.append(self._close)

    async def _close(self, _app: web.Application) -> None:
        if self._client is not None:
            self._client.close()

    def _engine(self, handle: EngineHandle) -> tuple[Admission, EngineClient]:
        if self._admission is None or self._client is None:
            self._admission = Admission(self.ctx, self._fault, running=handle.max_num_seqs)
            self._client = EngineClient(handle.socket)
        return self._admission, self._client

    def _fault(self, exc: BaseException) -> web.Response:
        return error(503, f"the vLLM engine did not answer: {exc}", "engine_unavailable")

    async def relay(self, request: web.Request) -> web.StreamResponse:
        handle = self.ctx.vllm if self.ctx.machine.state is State.READY else None
        if handle is None:
            return waiting.not_ready(self.ctx)
        admission, client = self._engine(handle)
        try:
            ticket = admission.enter(request)
        except ServingError as exc:
            return exc.response
        self.ctx.request_started()
        try:
            return await self._relay(request, ticket, admission, client)
        except ServingError as exc:
            return exc.response
        finally:
            admission.leave(ticket)
            self.ctx.request_finished()

    async def _relay(
        self, request: web.Request, ticket: Ticket, admission: Admission, client: EngineClient
    ) -> web.StreamResponse:
        body = await request.read()
        headers = [
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in DROPPED_REQUEST_HEADERS
        ]

        async def answer() -> tuple[Answer, bytes | None]:
            """The engine's answer: whole, or its head for a stream."""
            upstream = await client.request(request.method, request.path_qs, headers, body)
            if upstream.content_type == "text/event-stream":
                return upstream, None
            try:
                return upstream, await upstream.read()
            except BaseException:
                upstream.close()  # unfinished: closing tells the engine nobody waits
                raise

        try:
            upstream, data = await self._watched(ticket, admission, answer())
        except OSError as exc:
            raise ServingError(self._fault(exc)) from exc
        if data is not None:
            return web.Response(body=data, status=upstream.status, headers=_passed(upstream))
        try:
            return await self._stream(request, ticket, admission, upstream)
        finally:
            upstream.close()  # a no-op once the stream was read to its end

    async def _stream(
        self, request: web.Request, ticket: Ticket, admission: Admission, upstream: Answer
    ) -> web.StreamResponse:
        """The client's stream, relayed chunk by chunk as the engine writes it."""
        response = web.StreamResponse(status=upstream.status, headers=_passed(upstream))
        await response.prepare(request)
        try:  # the deadline is on time.monotonic(), the event loop's clock
            async with (
                asyncio.timeout_at(ticket.deadline),
                contextlib.aclosing(upstream.chunks()) as chunks,
            ):
                async for chunk in chunks:  # the engine's failures propagate as OSError
                    try:
                        await response.write(chunk)
                    except ConnectionError:  # the client left: closing upstream aborts
                        return response
        except TimeoutError:
            return await _last_event(response, admission.timed_out())
        except OSError as exc:
            return await _last_event(response, self._fault(exc))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def _watched(
        self, ticket: Ticket, admission: Admission, work: Coroutine[Any, Any, T]
    ) -> T:
        """`work`'s result; ServingError when the deadline passes or the client hangs up
        first (`work` is cancelled: its engine request closed, which vLLM takes as an abort).
        `work` runs in this task; a timer looks at the client's connection meanwhile."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        gone = False
        timer: asyncio.TimerHandle | None = None

        def look() -> None:
            nonlocal gone, timer
            if ticket.hung_up():
                gone = True
                task.cancel()
            else:
                timer = loop.call_later(HANG_UP_CHECK_SECONDS, look)

        look()
        try:  # the deadline is on time.monotonic(), the event loop's clock
            async with asyncio.timeout_at(ticket.deadline):
                return await work
        except TimeoutError:
            raise ServingError(admission.timed_out()) from None
        except asyncio.CancelledError:
            if gone and task.uncancel() == 0:
                raise ServingError(
                    error(CLIENT_CLOSED, "the client closed the connection", "client_closed")
                ) from None
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def engine_metrics(self) -> bytes:
        """The engine's own /metrics text (empty when it cannot be read now)."""
        handle = self.ctx.vllm
        if handle is None or handle.process.returncode is not None:
            return b""
        _admission, client = self._engine(handle)
        answer: Answer | None = None
        try:
            async with asyncio.timeout(METRICS_TIMEOUT_SECONDS):
                answer = await client.request("GET", "/metrics")
                data = await answer.read()
                return data if answer.status == 200 else b""
        except (TimeoutError, OSError) as exc:
            log.debug("the engine's metrics could not be read: %s", exc)
            return b""
        finally:
            if answer is not None:
                answer.close()


def _passed(upstream: Answer) -> dict[str, str]:
    return {
        name: upstream.headers[key]
        for name in PASSED_RESPONSE_HEADERS
        if (key := name.lower()) in upstream.headers
    }


async def _last_event(stream: web.StreamResponse, failure: web.Response) -> web.StreamResponse:
    """End a started stream with `failure`'s error as its last event (its status line went)."""
    event = {"error": _body(failure)}
    with contextlib.suppress(ConnectionError):
        await stream.write(f"data: {json.dumps(event)}\n\n".encode())
    return stream


def _body(response: web.Response) -> Any:
    assert response.text is not None
    return json.loads(response.text)["error"]
