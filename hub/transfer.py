"""One HTTP GET at a time, on the standard library, for file bytes and small JSON.

Why not the hub library's downloader: it deletes partial files when a process restarts, does
not verify sha256 and gives no hook to hash while writing. `http.client` with `readinto` into
one reused buffer is also the cheapest way Python moves bytes. This module follows redirects
(the hub sends LFS files to a CDN), drops the token when a redirect leaves the endpoint's
origin (scheme and host), refuses redirects from https to http, honours
HTTP(S)_PROXY/NO_PROXY, and turns hub error codes into typed failures. Stdlib only: the
operator's size estimate and `modeldeploy verify` import it cheaply.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from modeldeploy.hub.errors import FetchError, FetchReason, from_http

MAX_REDIRECTS = 5
USER_AGENT = "modeldeploy-fetch/0.1"
DEFAULT_ENDPOINT = "https://huggingface.co"


def request_headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@dataclass
class Response:
    """An open response: status, headers, and the socket-backed body to `readinto` from."""

    status: int
    headers: http.client.HTTPMessage
    body: http.client.HTTPResponse
    url: str
    sock: socket.socket | None = None
    registry: SocketRegistry | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def close(self) -> None:
        self.body.close()
        if self.registry is not None:
            self.registry.discard(self.sock)
        if self.sock is not None:
            self.sock.close()


class SocketRegistry:
    """Sockets of in-flight downloads, so a cancel can unblock their reads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.add(sock)
            closed = self._closed
        if closed:
            _shutdown(sock)

    def discard(self, sock: socket.socket | None) -> None:
        with self._lock:
            if sock is not None:
                self._sockets.discard(sock)

    def shutdown_all(self) -> None:
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with suppress(OSError):  # already closed: nothing to unblock
        sock.shutdown(socket.SHUT_RDWR)


def _connection(url: urllib.parse.SplitResult, *, timeout: float) -> http.client.HTTPConnection:
    host = url.hostname or ""
    port = url.port
    proxy = _proxy_for(url)
    if url.scheme == "https":
        import ssl  # only for https endpoints

        context = ssl.create_default_context()
        if proxy is not None:
            conn = http.client.HTTPSConnection(
                proxy.hostname or "", proxy.port or 80, timeout=timeout, context=context
            )
            conn.set_tunnel(host, port or 443)
            return conn
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    if url.scheme != "http":
        raise FetchError(FetchReason.NetworkError, f"unsupported URL scheme in {url.geturl()}")
    if proxy is not None:
        return http.client.HTTPConnection(proxy.hostname or "", proxy.port or 80, timeout=timeout)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def _proxy_for(url: urllib.parse.SplitResult) -> urllib.parse.SplitResult | None:
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme)
    if not proxy or urllib.request.proxy_bypass(url.hostname or ""):
        return None
    return urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _request_target(url: urllib.parse.SplitResult) -> str:
    if url.scheme == "http" and _proxy_for(url) is not None:
        return url.geturl()  # an HTTP proxy takes the absolute URL
    return (url.path or "/") + (f"?{url.query}" if url.query else "")


def open_url(
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    method: str = "GET",
    body: bytes | None = None,
    registry: SocketRegistry | None = None,
) -> Response:
    """Send one request and follow redirects; the caller must close `response.body`.

    Raises FetchError with a typed reason for 401/403/404 (using the hub's X-Error-Code),
    NetworkError for 5xx, 429 and socket failures (retryable).
    """
    current = dict(headers)
    origin = urllib.parse.urlsplit(url)
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        current = headers_for(origin, parts, current)
        response = _send(
            parts, method=method, headers=current, body=body, timeout=timeout, registry=registry
        )
        if response.status in (301, 302, 303, 307, 308):
            location = response.header("Location")
            response.close()
            if not location:
                raise FetchError(FetchReason.NetworkError, f"{url}: redirect without Location")
            url = redirect_target(url, location)
            continue
        response.url = url
        if response.status >= 400:
            error = http_failure(response)
            response.close()
            raise error
        return response
    raise FetchError(FetchReason.NetworkError, f"{url}: more than {MAX_REDIRECTS} redirects")


def redirect_target(url: str, location: str) -> str:
    """Where a redirect leads; refuses https to http (the bytes would travel unprotected)."""
    target = urllib.parse.urljoin(url, location)
    if urllib.parse.urlsplit(url).scheme == "https" and urllib.parse.urlsplit(target).scheme != (
        "https"
    ):
        raise FetchError(
            FetchReason.NetworkError,
            f"{_redact(url)}: refusing a redirect from https to {_redact(target)}",
        )
    return target


def headers_for(
    origin: urllib.parse.SplitResult, parts: urllib.parse.SplitResult, headers: Mapping[str, str]
) -> dict[str, str]:
    """The headers for a request to `parts`: the token only on the endpoint's own origin.

    Origin is scheme and host (with port): another host, or the same host over another
    scheme, never sees the token.
    """
    same = (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc)
    return dict(headers) if same else {k: v for k, v in headers.items() if k != "Authorization"}


def _send(
    parts: urllib.parse.SplitResult,
    *,
    method: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    registry: SocketRegistry | None,
) -> Response:
    conn = _connection(parts, timeout=timeout)
    try:
        conn.connect()
        if registry is not None:
            registry.add(conn.sock)
        conn.request(method, _request_target(parts), body=body, headers=dict(headers))
        raw = conn.getresponse()
    except TimeoutError as exc:
        _forget(conn, registry)
        raise FetchError(FetchReason.Stalled, f"{parts.netloc}: no answer in {timeout:g}s") from exc
    except (OSError, http.client.HTTPException) as exc:
        _forget(conn, registry)
        raise FetchError(FetchReason.NetworkError, f"{parts.netloc}: {_describe(exc)}") from exc
    return Response(
        status=raw.status,
        headers=raw.headers,
        body=raw,
        url=parts.geturl(),
        sock=conn.sock,
        registry=registry,
    )


def _forget(conn: http.client.HTTPConnection, registry: SocketRegistry | None) -> None:
    if registry is not None:
        registry.discard(conn.sock)
    conn.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def http_failure(response: Response) -> FetchError:
    """Map an error response to a typed reason (see `errors.from_http`)."""
    where = _redact(response.url)
    return from_http(
        response.status, response.header("X-Error-Code"), where, file="/resolve/" in where
    )


def _redact(url: str) -> str:
    """The URL without its query (CDN URLs carry signatures in it)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@contextmanager
def opened(url: str, **kwargs: Any) -> Iterator[Response]:
    response = open_url(url, **kwargs)
    try:
        yield response
    finally:
        response.close()


def get_range(url: str, *, token: str | None, start: int, end: int, timeout: float = 30.0) -> bytes:
    """Bytes `start..end` inclusive; a server that ignores Range is read only that far."""
    headers = {**request_headers(token), "Range": f"bytes={start}-{end}"}
    with opened(url, headers=headers, timeout=timeout) as response:
        if response.status == 206:
            return response.body.read()
        if response.status == 200:
            data = response.body.read(end + 1)
            return data[start:]
        raise FetchError(FetchReason.NetworkError, f"{_redact(url)}: HTTP {response.status}")


def resolve_url(endpoint: str, repo: str, commit: str, path: str) -> str:
    """`{endpoint}/{repo}/resolve/{commit}/{path}`, the same URL as hf_hub_url builds."""
    quoted = urllib.parse.quote(path, safe="/")
    return f"{endpoint.rstrip('/')}/{repo}/resolve/{commit}/{quoted}"
