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
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from modeldeploy.runtime import waiting
from modeldeploy.runtime.admission import CLIENT_CLOSED, HANG_UP_CHECK_SECONDS, Admission, Ticket
from modeldeploy.runtime.apierrors import ServingError, error
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.engines.vllm.steps import DEFAULT_MAX_NUM_SEQS, EngineHandle, checked_args
from modeldeploy.runtime.errors import LoadError
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
        try:
            _args, running = checked_args(ctx.config)
        except LoadError:  # the pipeline reports it (InvalidEngineArgs); nothing is served
            running = DEFAULT_MAX_NUM_SEQS
        self.admission = Admission(ctx, self._fault, running=running)
        self._session: aiohttp.ClientSession | None = None

    def attach(self, app: web.Application) -> None:
        for path in NAMED_PATHS:  # their own route each: the request metrics name them
            app.router.add_route("*", path, self.relay)
        app.router.add_route("*", "/v1/{tail:.*}", self.relay)
        app.on_cleanup.append(self._close)

    async def _close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self, handle: EngineHandle) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(handle.socket), limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0),
                auto_decompress=False,
            )
        return self._session

    def _fault(self, exc: BaseException) -> web.Response:
        return error(503, f"the vLLM engine did not answer: {exc}", "engine_unavailable")

    async def relay(self, request: web.Request) -> web.StreamResponse:
        handle = self.ctx.vllm if self.ctx.machine.state is State.READY else None
        if handle is None:
            return waiting.not_ready(self.ctx)
        try:
            ticket = self.admission.enter(request)
        except ServingError as exc:
            return exc.response
        self.ctx.request_started()
        try:
            return await self._relay(request, ticket, handle)
        except ServingError as exc:
            return exc.response
        finally:
            self.admission.leave(ticket)
            self.ctx.request_finished()

    async def _relay(
        self, request: web.Request, ticket: Ticket, handle: EngineHandle
    ) -> web.StreamResponse:
        body = await request.read()
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in DROPPED_REQUEST_HEADERS
        }
        client = self._client(handle)
        target = f"http://engine{request.path_qs}"

        async def answer() -> tuple[aiohttp.ClientResponse, bytes | None]:
            """The engine's answer: whole (one wait for both), or its headers for a stream."""
            upstream = await client.request(request.method, target, data=body, headers=headers)
            if upstream.content_type == "text/event-stream":
                return upstream, None
            try:
                data = await upstream.read()
            except BaseException:
                upstream.close()  # unfinished: closing tells the engine nobody waits
                raise
            upstream.release()  # finished: the connection serves the next request
            return upstream, data

        try:
            upstream, data = await self._watched(ticket, answer())
        except aiohttp.ClientError as exc:
            raise ServingError(self._fault(exc)) from exc
        if data is not None:
            return web.Response(body=data, status=upstream.status, headers=_passed(upstream))
        finished = False
        try:
            response, finished = await self._stream(request, ticket, upstream)
            return response
        except aiohttp.ClientError as exc:
            raise ServingError(self._fault(exc)) from exc
        finally:
            if finished:
                upstream.release()
            else:
                upstream.close()

    async def _stream(
        self, request: web.Request, ticket: Ticket, upstream: aiohttp.ClientResponse
    ) -> tuple[web.StreamResponse, bool]:
        """The client's stream, and whether the engine's stream was read to its end."""
        response = web.StreamResponse(status=upstream.status, headers=_passed(upstream))
        await response.prepare(request)
        left = None if ticket.deadline is None else ticket.deadline - time.monotonic()
        try:
            async with asyncio.timeout(left):
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
        except TimeoutError:
            event = {"error": _body(self.admission.timed_out())}
            with contextlib.suppress(ConnectionError):
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
            return response, False
        except ConnectionError:  # the client left: closing upstream aborts the engine's request
            return response, False
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response, True

    async def _watched(self, ticket: Ticket, work: Awaitable[T]) -> T:
        """`work`'s result; ServingError when the deadline passes or the client hangs up
        first (the engine request is then closed, which vLLM takes as an abort)."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                wait = HANG_UP_CHECK_SECONDS
                if ticket.deadline is not None:
                    wait = min(wait, ticket.deadline - time.monotonic())
                    if wait <= 0:
                        raise ServingError(self.admission.timed_out())
                done, _ = await asyncio.wait({task}, timeout=wait)
                if done:
                    return task.result()
                if ticket.hung_up():
                    raise ServingError(
                        error(CLIENT_CLOSED, "the client closed the connection", "client_closed")
                    )
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                    await task

    async def engine_metrics(self) -> bytes:
        """The engine's own /metrics text (empty when it cannot be read now)."""
        handle = self.ctx.vllm
        if handle is None or handle.process.returncode is not None:
            return b""
        try:
            async with asyncio.timeout(METRICS_TIMEOUT_SECONDS):
                async with self._client(handle).get("http://engine/metrics") as answer:
                    return await answer.read() if answer.status == 200 else b""
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.debug("the engine's metrics could not be read: %s", exc)
            return b""


def _passed(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    return {
        name: upstream.headers[name] for name in PASSED_RESPONSE_HEADERS if name in upstream.headers
    }


def _body(response: web.Response) -> Any:
    assert response.text is not None
    return json.loads(response.text)["error"]
