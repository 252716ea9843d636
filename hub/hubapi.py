"""The `huggingface_hub` client, wrapped: one place that builds it and types its failures.

Resolving and listing go through the real client, so every endpoint, auth scheme and error
convention the hub has stays the library's business. Its exceptions are turned into
`FetchError`s with stable reasons here; transient network failures are retried.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from modeldeploy.hub.errors import GATED, FetchError, FetchReason, from_http
from modeldeploy.hub.transfer import DEFAULT_ENDPOINT

T = TypeVar("T")

API_ATTEMPTS = 4


def endpoint_or_default(endpoint: str | None) -> str:
    """The explicit endpoint, else HF_ENDPOINT, else the public hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def client(*, endpoint: str | None, token: str | None) -> Any:
    from huggingface_hub import HfApi

    # token=False: never fall back to a token saved on this machine; HF_TOKEN is read by the
    # command line and passed in explicitly.
    return HfApi(
        endpoint=endpoint_or_default(endpoint), token=token or False, library_name="modeldeploy"
    )


def call(fn: Callable[[], T], *, what: str) -> T:
    """Run one hub API call, retrying network failures, typing the others."""
    for attempt in range(API_ATTEMPTS):
        try:
            return fn()
        except Exception as exc:
            error = translate(exc, what=what)
            if not error.retryable or attempt == API_ATTEMPTS - 1:
                raise error from exc
        time.sleep(0.25 * 2**attempt * random.uniform(0.5, 1.0))  # noqa: S311
    raise AssertionError("unreachable")


def translate(exc: BaseException, *, what: str) -> FetchError:
    """Map a huggingface_hub / httpx2 exception to a FetchError naming `what`."""
    from huggingface_hub import errors

    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, errors.HFValidationError):
        return FetchError(FetchReason.InvalidRepoId, f"{what}: {str(exc).splitlines()[0]}")
    if isinstance(exc, errors.GatedRepoError):
        return FetchError(FetchReason.GatedRepo, f"{what}: {GATED}")
    if isinstance(exc, errors.RevisionNotFoundError):
        return FetchError(FetchReason.RevisionNotFound, f"{what}: revision not found")
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return FetchError(FetchReason.EntryNotFound, f"{what}: file not found")
    if isinstance(exc, errors.HfHubHTTPError):
        return _translate_http(exc, what=what)
    return _translate_transport(exc, what=what)


def _translate_http(exc: Any, *, what: str) -> FetchError:
    response = exc.response
    status = response.status_code if response is not None else 0
    code = response.headers.get("X-Error-Code") if response is not None else None
    return from_http(status, code, what, file=False)


def _translate_transport(exc: BaseException, *, what: str) -> FetchError:
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return FetchError(FetchReason.Stalled, f"{what}: the hub did not answer in time")
    if isinstance(exc, httpx2.TransportError | OSError):
        return FetchError(
            FetchReason.NetworkError,
            f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
        )
    raise exc
