"""HTTP/1.1 to the engine over its Unix socket, on the event loop: what the bridge relays with.

The engine is one known server (vLLM's uvicorn) on a private socket, so this client does only
what that needs, and costs little per request, which is what the relay adds to each answer:
one prepared write of the request, its answer's head read in one go, the body framed by
`Content-Length` or chunked transfer (streams), or read to the end when neither is given.
Connections are kept alive and reused; one the engine closed while it sat idle (uvicorn closes
them after 5 s) is noticed before use or, when the close crossed the request, by the answer's
head never starting, and the request is sent once more on a fresh connection (the engine never
read it). A request left unfinished (a client gone, a deadline passed, cancelled) closes its
connection, which the engine takes as an abort.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

HEAD_LIMIT = 64 * 1024  # bytes of status line and headers at most
IDLE_SECONDS = 4.0  # reuse a kept connection only this long: the engine closes it after 5 s
READ_SIZE = 64 * 1024
NO_BODY_STATUSES = frozenset({204, 304})


class UpstreamError(OSError):
    """The engine closed the connection or answered what is not HTTP/1.1."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: float = field(default_factory=time.monotonic)

    def fresh(self) -> bool:
        return (
            time.monotonic() - self.used < IDLE_SECONDS
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()


class Answer:
    """The engine's answer: status and headers now, the body read with `read` or `chunks`.

    Whoever gets it must read its body to the end or `close` it; reading to the end returns
    the connection for the next request."""

    def __init__(
        self,
        client: EngineClient,
        connection: _Connection,
        status: int,
        headers: dict[str, str],
        bodyless: bool,
    ) -> None:
        self.status = status
        self.headers = headers  # names in lower case
        self._client = client
        self._connection: _Connection | None = connection
        self._reusable = headers.get("connection", "").lower() != "close"
        self._bodyless = bodyless

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def chunks(self) -> AsyncGenerator[bytes]:
        """The body's bytes as they arrive; the connection goes back when all were read."""
        connection = self._connection
        if connection is None:
            raise UpstreamError("the answer's body was read already or closed")
        finished = False
        try:
            async for chunk in self._body(connection.reader):
                yield chunk
            finished = True
        finally:
            if finished and self._reusable:
                self._connection = None
                self._client.give_back(connection)
            else:
                self.close()

    def close(self) -> None:
        """Drop the connection (an unfinished answer: the engine aborts its request)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _body(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        try:
            if self._bodyless:
                return
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                async for chunk in _chunked(reader):
                    yield chunk
                return
            length = self.headers.get("content-length")
            if length is not None:
                left = int(length)
                while left > 0:
                    chunk = await reader.read(min(left, READ_SIZE))
                    if not chunk:
                        raise UpstreamError(f"the engine closed with {left} bytes of body unsent")
                    left -= len(chunk)
                    yield chunk
                return
            self._reusable = False  # framed by the connection's end
            while chunk := await reader.read(READ_SIZE):
                yield chunk
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise UpstreamError(f"the engine's answer broke off: {exc}") from exc


async def _chunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the end
                pass
            return
        chunk = await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise UpstreamError("a chunk of the engine's answer is not followed by CRLF")
        yield chunk


class EngineClient:
    """Requests to the HTTP server on `socket`, over kept-alive connections."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._idle: list[_Connection] = []
        self._closed = False

    async def request(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Answer:
        """Send one request; the answer once its head arrived. Raises OSError (UpstreamError
        among them) when the engine cannot be reached or breaks off."""
        lines = [f"{method} {target} HTTP/1.1", "Host: engine"]
        lines += [f"{name}: {value}" for name, value in headers if _plain(name, value)]
        if body or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        connection = self._take()
        reused = connection is not None
        while True:
            if connection is None:
                connection = await self._open()
            try:
                connection.writer.write(head + body)
                if len(body) > READ_SIZE:
                    await connection.writer.drain()
                status, answer_headers = await _head(connection.reader)
            except BaseException as exc:
                connection.close()
                if reused and isinstance(
                    exc, _NoHeadError | ConnectionResetError | BrokenPipeError
                ):
                    connection, reused = None, False  # closed while idle: it never read this
                    continue
                if isinstance(exc, _NoHeadError):
                    raise UpstreamError("the engine closed the connection") from None
                raise
            bodyless = method == "HEAD" or status in NO_BODY_STATUSES or status < 200
            return Answer(self, connection, status, answer_headers, bodyless)

    def give_back(self, connection: _Connection) -> None:
        if self._closed:
            connection.close()
            return
        connection.used = time.monotonic()
        self._idle.append(connection)

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def _take(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.fresh():
                return connection
            connection.close()
        return None

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_unix_connection(str(self.socket), limit=HEAD_LIMIT)
        return _Connection(reader, writer)


class _NoHeadError(Exception):
    """The connection ended before the first byte of an answer."""


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise _NoHeadError() from None
        raise UpstreamError("the engine's answer ended inside its headers") from None
    except asyncio.LimitOverrunError:
        raise UpstreamError(f"the engine's answer headers exceed {HEAD_LIMIT} bytes") from None
    status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise UpstreamError(f"the engine's answer does not start as HTTP/1.1: {status_line!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(rest[:3]), headers


def _plain(name: str, value: str) -> bool:
    """A header that can be written as it is (no line breaks smuggled in)."""
    return not any(c in name or c in value for c in "\r\n\0")
