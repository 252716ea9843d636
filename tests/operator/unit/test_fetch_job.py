"""The cache PVC and the per-commit fetch Job."""

from __future__ import annotations

import json

from modeldeploy.operator.planners import fetchjob, naming
from tests.operator.unit.builders import COMMIT_A, COMMIT_B, spec

NAMES = naming.Names(name="tiny", namespace="ml")


def _job(the_spec, commit=COMMIT_A, endpoint="http://mirror:8090"):
    return fetchjob.fetch_job(
        the_spec, names=NAMES, uid="u-1", commit=commit, image="img:1", endpoint=endpoint
    )


def test_fetch_arguments_pin_the_commit_and_pass_every_option() -> None:
    the_spec = spec(
        model={
            "repo": "acme/tiny",
            "include": ["*.safetensors", "*.json"],
            "allowPickle": True,
            "sha256": {"model.safetensors": "f" * 64},
        },
        cache={"size": "2Gi"},
    )
    args = _job(the_spec)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:8] == [
        "fetch",
        "acme/tiny",
        "--dest",
        f"/cache/{COMMIT_A}",
        "--revision",
        COMMIT_A,
        "--progress",
        "json",
    ]
    assert args[8:10] == ["--endpoint", "http://mirror:8090"]
    assert args.count("--include") == 2 and "--allow-pickle" in args
    assert f"model.safetensors={'f' * 64}" in args


def test_token_comes_from_the_secret_and_never_appears_in_arguments() -> None:
    the_spec = spec(
        model={"repo": "acme/tiny", "tokenSecretRef": {"name": "hf", "key": "tok"}},
        cache={"size": "1Gi"},
    )
    container = _job(the_spec)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf", "key": "tok"}},
    }
    assert "tok" not in json.dumps(container["args"]) and "HF_TOKEN" not in json.dumps(
        container["args"]
    )


def test_one_job_per_commit() -> None:
    the_spec = spec(cache={"size": "1Gi"})
    first, second = _job(the_spec, COMMIT_A), _job(the_spec, COMMIT_B)
    assert first["metadata"]["name"] != second["metadata"]["name"]
    assert first["metadata"]["annotations"][naming.ANNOTATION_COMMIT] == COMMIT_A
    assert len(first["metadata"]["name"]) <= 63
    assert first["spec"]["backoffLimit"] == fetchjob.FETCH_BACKOFF_LIMIT
    assert first["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_retained_cache_has_no_owner_so_deletion_keeps_it() -> None:
    claim = fetchjob.cache_claim(
        spec(cache={"size": "1Gi"}), names=NAMES, uid="u-1", storage_class="fast"
    )
    assert "ownerReferences" not in claim["metadata"]
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_deleted_cache_is_owned_and_spec_storage_class_wins() -> None:
    the_spec = spec(cache={"size": "1Gi", "retention": "Delete", "storageClassName": "mine"})
    claim = fetchjob.cache_claim(the_spec, names=NAMES, uid="u-1", storage_class="fast")
    assert claim["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert claim["spec"]["storageClassName"] == "mine"


def test_no_storage_class_anywhere_leaves_the_cluster_default() -> None:
    claim = fetchjob.cache_claim(
        spec(cache={"size": "1Gi"}), names=NAMES, uid="u", storage_class=None
    )
    assert "storageClassName" not in claim["spec"]


def test_suspending_the_deployment_suspends_its_download_in_the_same_job() -> None:
    running = _job(spec(cache={"size": "2Gi"}))
    paused = _job(spec(cache={"size": "2Gi"}, suspend=True))
    assert running["spec"]["suspend"] is False and paused["spec"]["suspend"] is True
    # The same Job (name, template): resuming continues it from its partial files.
    assert paused["metadata"]["name"] == running["metadata"]["name"]
    assert paused["spec"]["template"] == running["spec"]["template"]
