"""One mapping from hub HTTP errors to reasons, used by the hub client and raw transfers."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.hub import resolve, transfer
from modeldeploy.hub.errors import FetchError, FetchReason, from_http
from tests.support.hubserver import HubServer


@pytest.mark.parametrize(
    ("status", "code", "file", "reason"),
    [
        (404, "RepoNotFound", True, FetchReason.RepoNotFound),
        (404, "EntryNotFound", False, FetchReason.EntryNotFound),
        (404, None, True, FetchReason.EntryNotFound),
        (404, None, False, FetchReason.RepoNotFound),
        (403, "GatedRepo", True, FetchReason.GatedRepo),
        (401, None, False, FetchReason.Unauthorized),
        (503, None, True, FetchReason.NetworkError),
    ],
)
def test_from_http(status: int, code: str | None, file: bool, reason: FetchReason):
    error = from_http(status, code, "acme/x", file=file)

    assert error.reason is reason and error.message.startswith("acme/x: ")


def test_client_and_transfer_agree_on_a_missing_repo(hub: HubServer, tmp_path: Path):
    url = transfer.resolve_url(hub.endpoint, "acme/missing", "main", "config.json")
    with pytest.raises(FetchError) as raw:
        transfer.open_url(url, headers=transfer.request_headers(None), timeout=5)
    with pytest.raises(FetchError) as client:
        resolve.resolve_revision("acme/missing", "main", endpoint=hub.endpoint, token=None)

    assert raw.value.reason is client.value.reason is FetchReason.RepoNotFound
