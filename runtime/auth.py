"""Who may call the OpenAI surface: `serve --api-key-file PATH`.

With a key file, every request for `/v1` or `/v1/...` needs `Authorization: Bearer <key>`;
without it, or with another key, the answer is 401 in OpenAI's error shape (type
`invalid_request_error`, code `invalid_api_key`) with `WWW-Authenticate: Bearer`. Probes,
`/status*`, `/metrics` and the status page stay open: kubelet and Prometheus carry no key.

The key is the file's content with surrounding whitespace stripped, compared in constant time
(`hmac.compare_digest` on bytes). It is read at start (a missing, unreadable or empty file
stops `serve` before it listens) and again whenever the file's identity changes (device,
inode, size, mtime: `os.stat` follows the `..data` symlink that kubelet swaps when a mounted
Secret is updated), so a rotated key takes effect without a restart. A re-read that fails keeps
the last good key. Only the path is ever logged or put in an error: never the key, nor what a
client sent.

In the middleware chain this sits after the request metrics and before usage and the wait for
Ready: a request without the key is counted on /metrics, but never waits for Ready nor takes a
queue slot.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from modeldeploy.runtime.apierrors import error

log = logging.getLogger("modeldeploy.runtime.auth")

GUARDED_PREFIX = "/v1"
SCHEME = "bearer"  # RFC 6750: the scheme name is case-insensitive
CHALLENGE = {"WWW-Authenticate": "Bearer"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Stamp = tuple[int, int, int, int]


class KeyFileError(Exception):
    """The key file cannot give a key (its message names the path, never the content)."""


class KeyFile:
    """The API key held in a file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp, self._key = _read(path)
        self._seen: Stamp | None = self._stamp  # what the file looked like when last looked at

    def key(self) -> bytes:
        """The current key: the file's, or the last good one when a re-read fails."""
        try:
            stamp: Stamp | None = _identity(os.stat(self.path))
        except OSError as exc:
            return self._keep(None, f"{self.path}: cannot stat the API key file ({exc.strerror})")
        if stamp in (self._stamp, self._seen):  # unchanged, or known to be unreadable
            self._seen = stamp
            return self._key
        try:
            self._stamp, self._key = _read(self.path)
        except KeyFileError as exc:
            return self._keep(stamp, str(exc))
        self._seen = self._stamp
        log.info("API key file %s changed: its new key applies", self.path)
        return self._key

    def accepts(self, presented: bytes) -> bool:
        return hmac.compare_digest(presented, self.key())

    def _keep(self, seen: Stamp | None, why: str) -> bytes:
        if seen != self._seen:  # said once per change of the file, not once per request
            log.warning("%s; keeping the last good API key", why)
            self._seen = seen
        return self._key


def _identity(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _read(path: Path) -> tuple[Stamp, bytes]:
    try:
        with path.open("rb") as file:
            stamp = _identity(os.fstat(file.fileno()))
            key = file.read().strip()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the API key file ({exc.strerror})") from None
    if not key:
        raise KeyFileError(f"{path}: the API key file is empty")
    return stamp, key


def guarded(path: str) -> bool:
    """Whether a request for `path` needs the key: `/v1` and everything under it."""
    return path == GUARDED_PREFIX or path.startswith(GUARDED_PREFIX + "/")


def presented_key(request: web.Request) -> bytes | None:
    """The bearer token of the request's Authorization header, as bytes; None without one."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != SCHEME or not token:
        return None
    try:  # aiohttp decodes header bytes as UTF-8 with surrogateescape: undo exactly that
        return token.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None


def refusal(*, presented: bool) -> web.Response:
    """401 in OpenAI's shape; the message never quotes what the client sent."""
    message = (
        "invalid API key"
        if presented
        else "missing API key: send the header 'Authorization: Bearer <key>'"
    )
    return error(
        401, message, "invalid_request_error", headers=CHALLENGE, param=None, code="invalid_api_key"
    )


def middleware(key_file: Path | None) -> Middleware:
    """Refuse `/v1` requests without the key of `key_file`; let everything through without one."""
    keys = KeyFile(key_file) if key_file is not None else None

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if keys is not None and guarded(request.path):
            presented = presented_key(request)
            if presented is None or not keys.accepts(presented):
                return refusal(presented=presented is not None)
        return await handler(request)

    return authenticate
