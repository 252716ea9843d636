"""Auth, gating and missing repos, revisions and files fail fast with typed reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.hub import fetch, resolve
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer

FILES = {"config.json": b"{}", "model.safetensors": b"\x01" * 4096}


def _reason(call) -> FetchReason:
    with pytest.raises(FetchError) as caught:
        call()
    return caught.value.reason


def test_private_repo_without_token_is_unauthorized(hub: HubServer, dest: Path):
    hub.add_repo("acme/private", FILES, private=True, tokens=("hf_good",))

    assert (
        _reason(lambda: fetch.fetch("acme/private", dest, endpoint=hub.endpoint))
        is FetchReason.Unauthorized
    )
    assert (
        _reason(lambda: fetch.fetch("acme/private", dest, endpoint=hub.endpoint, token="hf_bad"))
        is FetchReason.Unauthorized
    )
    fetch.fetch("acme/private", dest, endpoint=hub.endpoint, token="hf_good")


def test_gated_repo_without_access_is_gated(hub: HubServer, dest: Path):
    hub.add_repo("acme/gated", FILES, gated=True, tokens=("hf_granted",))

    assert (
        _reason(lambda: fetch.fetch("acme/gated", dest, endpoint=hub.endpoint))
        is FetchReason.GatedRepo
    )
    assert not (dest / ".modeldeploy" / "manifest.json").exists()
    fetch.fetch("acme/gated", dest, endpoint=hub.endpoint, token="hf_granted")


def test_missing_repo_and_revision(hub: HubServer, model: ModelRepo, dest: Path):
    assert (
        _reason(lambda: fetch.fetch("acme/nope", dest, endpoint=hub.endpoint))
        is FetchReason.RepoNotFound
    )
    assert (
        _reason(
            lambda: fetch.fetch(model.repo, dest, revision="no-such-branch", endpoint=hub.endpoint)
        )
        is FetchReason.RevisionNotFound
    )
    assert (
        _reason(
            lambda: resolve.resolve_revision(
                model.repo, "f" * 40, endpoint=hub.endpoint, token=None
            )
        )
        is FetchReason.RevisionNotFound
    )
    assert hub.downloads() == []


def test_include_matching_nothing_and_pin_for_unknown_file(
    hub: HubServer, model: ModelRepo, dest: Path
):
    assert (
        _reason(lambda: fetch.fetch(model.repo, dest, endpoint=hub.endpoint, include=("*.gguf",)))
        is FetchReason.EntryNotFound
    )
    assert (
        _reason(
            lambda: fetch.fetch(
                model.repo, dest, endpoint=hub.endpoint, pins={"nope.safetensors": "0" * 64}
            )
        )
        is FetchReason.EntryNotFound
    )


def test_token_never_appears_in_errors_manifest_or_progress(hub: HubServer, dest: Path):
    secret = "hf_TOPSECRET_value"
    hub.add_repo("acme/private", FILES, private=True, tokens=(secret,))
    seen: list[str] = []

    fetch.fetch(
        "acme/private",
        dest,
        endpoint=hub.endpoint,
        token=secret,
        on_progress=lambda e: seen.append(str(e.to_json())),
    )
    with pytest.raises(FetchError) as caught:
        fetch.fetch("acme/nope", dest, endpoint=hub.endpoint, token=secret)

    on_disk = "".join(
        p.read_text(errors="replace") for p in (dest / ".modeldeploy").rglob("*") if p.is_file()
    )
    assert secret not in str(caught.value) + repr(caught.value) + "".join(seen) + on_disk


def test_unreachable_endpoint_is_a_network_error(dest: Path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert (
        _reason(lambda: fetch.fetch("acme/x", dest, endpoint=f"http://127.0.0.1:{port}"))
        is FetchReason.NetworkError
    )
