"""The commands the operator puts in pods are accepted by the real `modeldeploy` parser."""

from __future__ import annotations

import pytest

from modeldeploy.cli.main import build_parser
from modeldeploy.operator.planners import fetchjob, workload
from tests.operator.unit.builders import COMMIT_A, spec

FULL = {
    "model": {
        "repo": "acme/tiny",
        "include": ["*.json"],
        "allowPickle": True,
        "sha256": {"model.safetensors": "f" * 64},
    },
    "task": "embeddings",
    "runtime": {"dtype": "bfloat16", "verify": "full", "warmup": {"prompt": "Hi", "maxTokens": 3}},
}


@pytest.mark.parametrize("cached", [True, False])
def test_serve_arguments_parse(cached: bool) -> None:
    the_spec = spec(**FULL, **({"cache": {"size": "1Gi"}} if cached else {}), gpu={"count": 1})
    args = workload.serve_args(the_spec, name="tiny", commit=COMMIT_A, endpoint="http://mirror")
    parsed = build_parser().parse_args(args)
    assert parsed.command == "serve" and parsed.port == 8080 and parsed.device == "cuda"
    assert parsed.dtype == "bfloat16" and parsed.task == "embeddings"
    assert parsed.warmup_prompt == "Hi" and parsed.warmup_max_tokens == 3
    if not cached:
        assert (parsed.repo, parsed.revision, parsed.endpoint) == (
            "acme/tiny",
            COMMIT_A,
            "http://mirror",
        )
        # Per-pod mode fetches the same selection, with the same pins, as the fetch Job.
        assert parsed.include == ["*.json"] and parsed.allow_pickle is True
        assert parsed.sha256 == [("model.safetensors", "f" * 64)]


def test_serve_without_warmup_parses() -> None:
    args = workload.serve_args(
        spec(runtime={"warmup": {"enabled": False}}), name="t", commit=COMMIT_A, endpoint=None
    )
    build_parser().parse_args(args)


def test_fetch_arguments_parse() -> None:
    args = fetchjob.fetch_args(
        spec(**FULL, cache={"size": "1Gi"}), commit=COMMIT_A, endpoint="http://mirror"
    )
    parsed = build_parser().parse_args(args)
    assert parsed.command == "fetch" and parsed.repo == "acme/tiny" and parsed.revision == COMMIT_A
    assert parsed.endpoint == "http://mirror" and parsed.progress == "json"
