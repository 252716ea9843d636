"""`modeldeploy render`: the planners' objects as YAML, no network; bad files name every field."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from modeldeploy.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("render touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_cached_example_renders_every_child(
    no_network: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(ROOT / "examples/cached-embeddings.yaml")]) == 0
    out = capsys.readouterr().out
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == [
        "PersistentVolumeClaim",
        "Job",
        "Deployment",
        "Service",
        "Service",
    ]
    assert "&id" not in out
    deployment = docs[2]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "nvidia.com/mig-1g.10gb": "1"
    }


def test_unresolved_branch_is_said_in_a_comment(
    no_network: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(ROOT / "examples/gpu-llama-products.yaml")]) == 0
    out = capsys.readouterr().out
    assert "# Revision 'main' is not resolved here" in out
    deployment = next(d for d in yaml.safe_load_all(out) if d["kind"] == "Deployment")
    assert (
        deployment["spec"]["template"]["metadata"]["labels"]["modeldeploy.io/revision"]
        == "unresolved"
    )


def test_nodes_file_runs_the_preflight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text((ROOT / "tests/support/nodes/kwok-t4-0.yaml").read_text())
    assert (
        main(["render", str(ROOT / "examples/gpu-llama-products.yaml"), "--nodes", str(nodes)]) == 0
    )
    out = capsys.readouterr().out
    assert "# Preflight: NoFittingGPUNode:" in out
    deployment = next(d for d in yaml.safe_load_all(out) if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 0


def test_invalid_file_lists_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "modeldeploy.io/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": "x"},
                "spec": {"model": {"repo": "acme/tiny"}, "gpu": {"count": -1}, "replicas": "two"},
            }
        )
    )
    assert main(["render", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "spec.gpu.count" in err and "spec.replicas" in err


def test_missing_file_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "/nonexistent.yaml"]) == 1
    assert "/nonexistent.yaml" in capsys.readouterr().err


def test_fallbacks_are_listed_and_the_preferred_candidate_is_rendered(
    no_network: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(ROOT / "examples/fallback-models.yaml")]) == 0
    out = capsys.readouterr().out
    assert "# Candidates, most preferred first: [0] meta-llama/Llama-3.1-70B-Instruct" in out
    docs = list(yaml.safe_load_all(out))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["metadata"]["annotations"]["modeldeploy.io/repo"] == (
        "meta-llama/Llama-3.1-70B-Instruct"
    )
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--served-model-name") + 1] == "chat"
    assert args[args.index("--queue-while-loading") + 1] == "30"
    waiting = next(
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "chat-wait"
    )
    assert waiting["spec"]["publishNotReadyAddresses"] is True


def test_vllm_example_renders_the_engine_flags_and_image(
    no_network: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(ROOT / "examples/vllm-deployment.yaml")]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith("-vllm")
    args = container["args"]
    assert args[args.index("--engine") + 1] == "vllm"
    assert [a for a in args if a.startswith("--engine-arg=")] == [
        "--engine-arg=--max-model-len=8192",
        "--engine-arg=--gpu-memory-utilization=0.9",
        "--engine-arg=--enable-prefix-caching",
        "--engine-arg=--tensor-parallel-size=2",
    ]


def test_a_refused_engine_argument_exits_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    body = yaml.safe_load((ROOT / "examples/vllm-deployment.yaml").read_text())
    body["spec"]["runtime"]["engineArgs"] = ["--load-format=dummy"]
    bad.write_text(yaml.safe_dump(body))
    assert main(["render", str(bad)]) == 1
    assert "spec.runtime.engineArgs: --load-format is not allowed" in capsys.readouterr().err
