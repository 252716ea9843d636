"""API errors: which are worth a retry, and what the status says about the permanent ones."""

from __future__ import annotations

import httpx2
import pytest
from lightkube import ApiError
from lightkube.models import meta_v1

from modeldeploy.operator import kube


def _plain(code: int) -> httpx2.HTTPStatusError:
    request = httpx2.Request("PATCH", "https://api/apis/monitoring.coreos.com/v1/x")
    response = httpx2.Response(code, text="404 page not found", request=request)
    return httpx2.HTTPStatusError("error", request=request, response=response)


def test_a_kind_the_api_server_does_not_serve_is_permanent_and_says_so() -> None:
    error = kube._error(_plain(404), "apply ServiceMonitor ml/tiny")
    assert not error.transient and error.code == 404
    assert "ServiceMonitor ml/tiny" in str(error) and "CRD" in str(error)


@pytest.mark.parametrize(
    ("code", "transient"), [(403, False), (422, False), (429, True), (503, True)]
)
def test_status_codes_decide_retries(code: int, transient: bool) -> None:
    assert kube._error(_plain(code), "x").transient is transient
    api = ApiError(status=meta_v1.Status(code=code, message="m"))
    assert kube._error(api, "x").transient is transient


def test_a_connection_error_is_transient() -> None:
    assert kube._error(httpx2.ConnectError("refused"), "x").transient
