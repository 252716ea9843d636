"""Bad input ends in a usage error (exit 2) or one line naming the fault (exit 1), never a
traceback, and a failed verify's JSON output ends in exactly one `error` event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.cli.main import main
from modeldeploy.hub import fetch
from modeldeploy.hub.errors import FetchError, FetchReason
from tests.hub.conftest import ModelRepo
from tests.support.hubserver import HubServer

SHARD = "model-00001-of-00002.safetensors"


@pytest.mark.parametrize("repo", ["bad//repo id", "a/b/c", "x-/y", "acme/x..y", "acme/x.git"])
def test_an_invalid_repo_id_is_a_usage_error(
    repo: str, dest: Path, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as caught:
        main(["fetch", repo, "--dest", str(dest), "--endpoint", "http://127.0.0.1:9"])

    assert caught.value.code == 2 and "invalid repo id" in capsys.readouterr().err
    assert not dest.exists()


def test_the_library_refuses_an_invalid_repo_id_before_touching_the_directory(dest: Path):
    with pytest.raises(FetchError) as caught:
        fetch.fetch("bad//repo id", dest, endpoint="http://127.0.0.1:9")

    assert caught.value.reason is FetchReason.InvalidRepoId and "bad//repo id" in str(caught.value)
    assert not dest.exists()


def test_a_dest_that_cannot_be_created_is_one_line(
    hub: HubServer, model: ModelRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    dest = blocker / "model"

    code = main(
        ["fetch", model.repo, "--dest", str(dest), "--endpoint", hub.endpoint, "--progress", "none"]
    )

    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "DestinationUnusable" in err and str(dest) in err and "unexpected" not in err


def test_quick_and_repair_together_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as caught:
        main(["verify", str(tmp_path), "--quick", "--repair"])

    assert caught.value.code == 2 and "--quick" in capsys.readouterr().err


def test_a_failed_verify_ends_in_one_error_event_and_no_done(
    hub: HubServer, model: ModelRepo, dest: Path, capsys: pytest.CaptureFixture[str]
):
    fetch.fetch(model.repo, dest, endpoint=hub.endpoint)
    (dest / SHARD).write_bytes(b"\x00" * (dest / SHARD).stat().st_size)

    code = main(["verify", str(dest), "--progress", "json"])

    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and events[-1] == "error" and "done" not in events


def test_verify_of_a_directory_that_does_not_exist_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    missing = tmp_path / "missing-dir"

    code = main(["verify", str(missing), "--progress", "none"])

    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert f"{missing}: directory does not exist" in err and "never fetched" not in err


def test_verify_of_a_file_says_it_is_not_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * 16)

    code = main(["verify", str(weights), "--progress", "none"])

    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert f"{weights}: is not a directory" in err
