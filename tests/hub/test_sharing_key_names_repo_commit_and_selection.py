"""The directory name of a model on a cache root encodes repo, commit and file selection."""

from __future__ import annotations

import hashlib
import json

import pytest

from modeldeploy.hub import sharing

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_a_selection_is_canonical_whichever_way_it_is_given():
    one = sharing.Selection.of(
        include=["*.json", "*.safetensors", "*.json"], sha256={"b": "AA" * 32, "a": "bb" * 32}
    )
    other = sharing.Selection(
        include=("*.safetensors", "*.json"), sha256=(("a", "bb" * 32), ("b", "aa" * 32))
    )

    assert one == other and one.digest() == other.digest()
    assert one.to_json() == {
        "allowPickle": False,
        "include": ["*.json", "*.safetensors"],
        "sha256": {"a": "bb" * 32, "b": "aa" * 32},
    }


def test_the_digest_is_the_sha256_of_the_canonical_json():
    selection = sharing.Selection.of(include=["*.json"], allow_pickle=True)
    canonical = '{"allowPickle":true,"include":["*.json"],"sha256":{}}'

    assert selection.digest() == hashlib.sha256(canonical.encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    "change",
    [
        {"include": ["*.safetensors"]},
        {"allow_pickle": True},
        {"sha256": {"model.safetensors": "ab" * 32}},
    ],
)
def test_each_part_of_the_selection_changes_the_directory(change: dict[str, object]):
    plain = sharing.model_dir_name("acme/tiny", COMMIT, sharing.Selection())
    changed = sharing.model_dir_name("acme/tiny", COMMIT, sharing.Selection.of(**change))

    assert plain != changed and plain.rsplit("--", 1)[0] == changed.rsplit("--", 1)[0]


def test_names_parse_back_to_repo_commit_and_digest():
    selection = sharing.Selection.of(include=["*.json"])

    with_owner = sharing.model_dir_name("acme/tiny-llama", COMMIT, selection)
    without_owner = sharing.model_dir_name("gpt2", COMMIT, selection)

    assert with_owner == f"acme--tiny-llama--{COMMIT}--{selection.digest()}"
    assert sharing.parse_model_dir_name(with_owner) == (
        "acme/tiny-llama",
        COMMIT,
        selection.digest(),
    )
    assert sharing.parse_model_dir_name(without_owner) == ("gpt2", COMMIT, selection.digest())


@pytest.mark.parametrize(
    "name",
    [COMMIT, "acme--tiny", f"acme--tiny--{COMMIT}", f"a--b--c--{COMMIT}--0123456789ab", "x" * 80],
)
def test_other_names_do_not_parse(name: str):
    assert sharing.parse_model_dir_name(name) is None


def test_a_legacy_directory_is_named_by_its_commit_alone():
    assert sharing.legacy_commit(COMMIT) == COMMIT
    assert sharing.legacy_commit(COMMIT.upper()) is None
    assert sharing.legacy_commit("acme--tiny") is None


@pytest.mark.parametrize(
    ("repo", "commit"), [("acme/tiny", "main"), ("acme/tiny", COMMIT[:12]), ("a/b/c", COMMIT)]
)
def test_a_name_needs_a_repo_id_and_a_full_commit(repo: str, commit: str):
    with pytest.raises(ValueError):
        sharing.model_dir_name(repo, commit, sharing.Selection())


def test_a_selection_reads_back_from_its_json():
    selection = sharing.Selection.of(include=["*.json"], sha256={"a": "cd" * 32})

    assert sharing.Selection.from_json(json.loads(json.dumps(selection.to_json()))) == selection
    with pytest.raises(ValueError):
        sharing.Selection.from_json({"include": "*.json"})
