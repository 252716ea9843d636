"""The bridge's client to the engine (`engines/vllm/upstream.py`) against real servers on a
Unix socket: aiohttp's (what uvicorn does, it does: lengths, chunked streams, keep-alive) and
raw asyncio ones for the answers a server should never give."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from modeldeploy.runtime.engines.vllm.upstream import EngineClient, UpstreamError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def app_server(
    routes: dict[str, Handler], *, keepalive: float = 75.0
) -> AsyncIterator[tuple[Path, set[int]]]:
    """An aiohttp server on a fresh socket; yields it and the set of connections it saw."""
    connections: set[int] = set()

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        connections.add(id(request.transport))
        return await handler(request)

    app = web.Application(middlewares=[count])
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, keepalive_timeout=keepalive)
    await runner.setup()
    with tempfile.TemporaryDirectory() as directory:
        socket = Path(directory) / "engine.sock"
        await web.UnixSite(runner, str(socket)).start()
        try:
            yield socket, connections
        finally:
            await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        socket = Path(directory) / "engine.sock"
        server = await asyncio.start_unix_server(serve, str(socket))
        try:
            yield socket
        finally:
            server.close()


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    seen = f"{request.method} {request.path_qs} {request.headers.get('X-Test', '-')} "
    return web.Response(body=seen.encode() + body, headers={"X-Request-Id": "r1"})


def test_answers_with_a_length_come_whole_over_one_kept_connection() -> None:
    async def scenario() -> None:
        async with app_server({"/v1/echo": echo}) as (socket, connections):
            client = EngineClient(socket)
            for index in range(3):
                answer = await client.request(
                    "POST", f"/v1/echo?n={index}", [("X-Test", "yes")], b'{"a": 1}'
                )
                assert answer.status == 200
                assert answer.headers["x-request-id"] == "r1"
                assert await answer.read() == f'POST /v1/echo?n={index} yes {{"a": 1}}'.encode()
            get = await client.request("GET", "/v1/echo")
            assert await get.read() == b"GET /v1/echo - "
            assert len(connections) == 1
            client.close()

    asyncio.run(scenario())


def test_a_stream_arrives_chunk_by_chunk_as_the_server_writes_it() -> None:
    release = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)  # no length: chunked transfer
        await response.write(b"data: 1\n\n")
        await release.wait()  # the second chunk only once the client holds the first
        await response.write(b"data: 2\n\n")
        await response.write_eof()
        return response

    async def scenario() -> None:
        async with app_server({"/v1/stream": stream, "/v1/echo": echo}) as (socket, seen):
            client = EngineClient(socket)
            answer = await client.request("POST", "/v1/stream", body=b"{}")
            assert answer.content_type == "text/event-stream"
            assert "chunked" in answer.headers["transfer-encoding"]
            received = []
            async with contextlib.aclosing(answer.chunks()) as chunks:
                async for chunk in chunks:
                    received.append(chunk)
                    release.set()
            assert b"".join(received) == b"data: 1\n\ndata: 2\n\n"
            assert received[0] == b"data: 1\n\n"
            after = await client.request("POST", "/v1/echo", body=b"x")  # the same connection
            assert await after.read() == b"POST /v1/echo - x"
            assert len(seen) == 1
            client.close()

    asyncio.run(scenario())


def test_a_stream_left_unfinished_closes_the_connection_the_server_notices() -> None:
    noticed = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            while True:
                await response.write(b"data: tick\n\n")
                await asyncio.sleep(0.01)
        except ConnectionError:
            noticed.set()
            raise

    async def scenario() -> None:
        async with app_server({"/v1/endless": endless}) as (socket, _):
            client = EngineClient(socket)
            answer = await client.request("POST", "/v1/endless", body=b"{}")
            async with contextlib.aclosing(answer.chunks()) as chunks:
                async for _chunk in chunks:
                    break
            await asyncio.wait_for(noticed.wait(), 5)
            assert client._take() is None  # nothing kept: the connection went with the stream
            client.close()

    asyncio.run(scenario())


def test_an_idle_connection_the_server_closed_is_replaced_before_use() -> None:
    async def scenario() -> None:
        async with app_server({"/v1/echo": echo}, keepalive=0.1) as (socket, connections):
            client = EngineClient(socket)
            assert await (await client.request("GET", "/v1/echo")).read() == b"GET /v1/echo - "
            await asyncio.sleep(0.5)  # the server closed the kept connection meanwhile
            assert await (await client.request("GET", "/v1/echo")).read() == b"GET /v1/echo - "
            assert len(connections) == 2
            client.close()

    asyncio.run(scenario())


def test_a_request_crossing_the_close_of_a_kept_connection_is_sent_again() -> None:
    """The server answers the first request, then closes the connection without a byte when
    the next one comes on it (as when its keep-alive timer fired while the request was on its
    way); the client sends it once more on a new connection, which is answered."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(id(writer))
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the second request: closed unanswered
        writer.close()

    async def scenario() -> None:
        async with raw_server(serve) as socket:
            client = EngineClient(socket)
            for _ in range(2):
                answer = await client.request("GET", "/v1/models")
                assert (answer.status, await answer.read()) == (200, b"ok")
            assert len(connections) == 2
            client.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "closed the connection"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "does not start as HTTP/1.1"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "ended inside its headers"),
    ],
)
def test_an_answer_that_is_not_http_is_an_error_naming_why(answer: bytes, message: str) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        async with raw_server(serve) as socket:
            client = EngineClient(socket)
            with pytest.raises(UpstreamError, match=message):
                await client.request("GET", "/v1/models")

    asyncio.run(scenario())


def test_a_body_cut_short_is_an_error_not_a_shorter_answer() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        async with raw_server(serve) as socket:
            answer = await EngineClient(socket).request("GET", "/v1/models")
            with pytest.raises(UpstreamError, match="5 bytes of body unsent"):
                await answer.read()

    asyncio.run(scenario())


def test_no_engine_on_the_socket_is_an_os_error() -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as directory, pytest.raises(OSError):
            await EngineClient(Path(directory) / "engine.sock").request("GET", "/health")

    asyncio.run(scenario())


def test_header_values_with_line_breaks_are_not_written() -> None:
    async def scenario() -> None:
        async with app_server({"/v1/echo": echo}) as (socket, _):
            client = EngineClient(socket)
            answer = await client.request("GET", "/v1/echo", [("X-Test", "a\r\nX-Evil: 1")])
            assert await answer.read() == b"GET /v1/echo - "
            client.close()

    asyncio.run(scenario())
