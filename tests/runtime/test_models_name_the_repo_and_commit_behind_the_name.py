"""Clients are not broken when another model serves under the same name: the served name stays
what was asked (`--served-model-name`), and `/v1/models` and `/status` say which repo and
commit are really behind it, the way the verified manifest records them."""

from __future__ import annotations

from pathlib import Path

from modeldeploy.hub import manifest
from tests.runtime import servers


def test_models_name_the_repo_and_commit_behind_the_served_name(
    lm_server: servers.Serve, tiny_lm: Path
) -> None:
    recorded = manifest.read_manifest(tiny_lm)
    reply = lm_server.get("/v1/models")
    assert reply.status == 200
    listing = reply.json()
    assert listing["object"] == "list"
    for model in listing["data"]:
        # OpenAI's fields, as before
        assert model["object"] == "model" and model["owned_by"] == "modeldeploy"
        assert isinstance(model["created"], int)
        # what really serves
        assert model["root"] == model["repo"] == recorded.repo == "tests/tiny-lm"
        assert model["commit"] == recorded.commit and len(model["commit"]) == 40
        assert model["revision"] == recorded.revision and model["verified"] is True
    assert listing["data"][0]["id"] == "tiny"  # the served name is unchanged
    status = lm_server.get("/status").json()
    assert status["model"]["name"] == "tiny"
    assert (status["model"]["repo"], status["commit"]) == (recorded.repo, recorded.commit)
    assert status["eta"] is None  # Ready: nothing to wait for
