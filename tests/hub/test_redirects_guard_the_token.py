"""The token goes only to the endpoint's own origin (scheme and host); https never
downgrades to http on a redirect."""

from __future__ import annotations

import urllib.parse

import pytest

from modeldeploy.hub import transfer
from modeldeploy.hub.errors import FetchError, FetchReason

TOKEN = {"Authorization": "Bearer hf_secret", "User-Agent": "t"}


def _split(url: str) -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(url)


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("https://hub.example/x", True),
        ("http://hub.example/x", False),  # same host, cleartext: no token
        ("https://hub.example:8443/x", False),
        ("https://cdn.example/x", False),
    ],
)
def test_the_token_goes_only_to_the_same_scheme_and_host(target: str, kept: bool):
    headers = transfer.headers_for(_split("https://hub.example/a"), _split(target), TOKEN)

    assert ("Authorization" in headers) is kept and headers["User-Agent"] == "t"


def test_a_redirect_from_https_to_http_is_refused():
    with pytest.raises(FetchError) as caught:
        transfer.redirect_target("https://hub.example/a?sig=s", "http://hub.example/b")

    assert caught.value.reason is FetchReason.NetworkError
    assert "https" in caught.value.message and "sig=s" not in caught.value.message


def test_relative_and_same_scheme_redirects_are_followed():
    assert transfer.redirect_target("https://hub.example/a/b", "/c") == "https://hub.example/c"
    assert transfer.redirect_target("http://127.0.0.1:1/a", "http://127.0.0.1:2/b") == (
        "http://127.0.0.1:2/b"
    )
