"""The hub token never reaches a log, status or Event; a missing Secret is said as such."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest
from lightkube import ApiError
from lightkube.models import meta_v1

from modeldeploy.hub import resolve as hub_resolve
from modeldeploy.operator import kube, workers
from modeldeploy.operator.config import Settings
from modeldeploy.operator.hub_lookups import HubLookups
from tests.operator.unit import reconcile_fakes as fakes
from tests.operator.unit.builders import spec

TOKEN = "hf_SuperSecretValue123"
WITH_TOKEN = spec(model={"repo": "acme/gated", "tokenSecretRef": {"name": "hf", "key": "token"}})


def _hub(client: fakes.FakeKube) -> HubLookups:
    return HubLookups(
        settings=Settings(runtime_image="img:1", default_endpoint="http://127.0.0.1:9"),
        client=client,  # type: ignore[arg-type]
    )


def test_a_hub_client_error_quoting_the_token_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> str:
        raise ValueError(f"Illegal header value b'Bearer {TOKEN}'")

    monkeypatch.setattr(hub_resolve, "resolve_revision", broken)
    client = fakes.FakeKube()
    client.secrets[("hf", "token")] = TOKEN
    outcome = asyncio.run(_hub(client).ask_hub(("ml", "tiny"), WITH_TOKEN, None))
    assert outcome.error is not None and outcome.error[0] == "NetworkError"
    assert TOKEN not in outcome.error[1] and "<token>" in outcome.error[1]


def test_an_unreadable_secret_is_token_unavailable() -> None:
    client = fakes.FakeKube()
    client.secret_error = kube.KubeError(
        "read token Secret ml/hf (key 'token'): forbidden", code=403, transient=False
    )
    outcome = asyncio.run(_hub(client).ask_hub(("ml", "tiny"), WITH_TOKEN, None))
    assert outcome.error is not None and outcome.error[0] == "TokenUnavailable"
    assert "ml/hf" in outcome.error[1] and outcome.commit is None


class _SecretsApi:
    def __init__(self, *, error: int | None = None, data: dict[str, str] | None = None) -> None:
        self.error, self.data = error, data or {}

    async def get(self, *_: Any, **__: Any) -> Any:
        if self.error is not None:
            raise ApiError(status=meta_v1.Status(code=self.error, message="secrets denied"))
        return type("Secret", (), {"data": self.data})()


def _client(api: _SecretsApi) -> kube.Kube:
    client = object.__new__(kube.Kube)
    client._client = api  # type: ignore[attr-defined]
    return client


@pytest.mark.parametrize("code", [403, 404])
def test_a_missing_or_forbidden_secret_raises_naming_secret_and_key(code: int) -> None:
    client = _client(_SecretsApi(error=code))
    with pytest.raises(kube.KubeError) as caught:
        asyncio.run(client.read_secret_key(namespace="ml", name="hf", key="token"))
    assert "ml/hf" in str(caught.value) and "'token'" in str(caught.value)
    assert not caught.value.transient


def test_a_secret_without_the_key_raises_and_a_present_one_is_decoded() -> None:
    encoded = base64.b64encode(TOKEN.encode()).decode()
    with pytest.raises(kube.KubeError, match="missing or empty"):
        asyncio.run(
            _client(_SecretsApi(data={"other": encoded})).read_secret_key(
                namespace="ml", name="hf", key="token"
            )
        )
    value = asyncio.run(
        _client(_SecretsApi(data={"token": encoded})).read_secret_key(
            namespace="ml", name="hf", key="token"
        )
    )
    assert value == TOKEN


def test_a_crashing_reconcile_logs_no_exception_text(caplog: pytest.LogCaptureFixture) -> None:
    async def reconcile(key: tuple[str, str]) -> float:
        raise RuntimeError(f"Illegal header value b'Bearer {TOKEN}'")

    with caplog.at_level(logging.DEBUG, logger=workers.__name__):
        delay = asyncio.run(workers.Workers(reconcile)._once(("ml", "tiny"), 0))
    assert delay is None
    assert "RuntimeError" in caplog.text and "reconcile" in caplog.text
    assert TOKEN not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
