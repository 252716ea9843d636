"""spec.runtime.engine: vllm becomes `serve --engine vllm` with one `--engine-arg=ARG` per
checked argument (the tensor parallel size defaulting to the replica's GPUs) and runs the
engine's image: vLLM's CUDA build with GPUs, its CPU build without, spec.runtime.image over
both. The builtin engine renders as before, and the Jobs keep the builtin runtime image."""

from __future__ import annotations

from typing import Any

from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import naming, rollout
from tests.operator.unit.builders import COMMIT_A, spec

NAMES = naming.Names(name="chat", namespace="ml")
SETTINGS = Settings(runtime_image="md:1", vllm_image="md:1-vllm", vllm_cpu_image="md:1-vllm-cpu")


def objects(**fields: Any) -> list[dict[str, Any]]:
    ctx = rollout.Context(names=NAMES, uid="u-1", settings=SETTINGS, commit=COMMIT_A, render=True)
    return rollout.plan(spec(**fields), ctx).objects


def runtime_container(**fields: Any) -> dict[str, Any]:
    deployment = next(o for o in objects(**fields) if o["kind"] == "Deployment")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def engine_flags(args: list[str]) -> list[str]:
    """`--engine X` and the `--engine-arg=...` items, in order."""
    flags = [a for a in args if a.startswith("--engine-arg=")]
    if "--engine" in args:
        at = args.index("--engine")
        flags = args[at : at + 2] + flags
    return flags


def vllm(gpus: int = 0, *args: str, **runtime: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"runtime": {"engine": "vllm", "engineArgs": list(args), **runtime}}
    if gpus:
        fields["gpu"] = {"count": gpus}
    return fields


def test_builtin_passes_no_engine_flag_and_runs_the_runtime_image() -> None:
    container = runtime_container()
    assert engine_flags(container["args"]) == []
    assert container["image"] == "md:1"


def test_vllm_arguments_arrive_normalised_one_per_engine_arg() -> None:
    args = runtime_container(**vllm(1, "--max-model-len", "4096", "--enable_prefix_caching"))[
        "args"
    ]
    assert engine_flags(args) == [
        "--engine",
        "vllm",
        "--engine-arg=--max-model-len=4096",
        "--engine-arg=--enable-prefix-caching",
    ]


def test_served_model_name_stays_a_serve_flag_with_vllm() -> None:
    args = runtime_container(**vllm(0, servedModelName="tiny-chat"))["args"]
    assert args[args.index("--served-model-name") + 1] == "tiny-chat"
    assert not any("served-model-name" in a for a in engine_flags(args))


def test_several_gpus_default_the_tensor_parallel_size_to_the_gpu_count() -> None:
    args = runtime_container(**vllm(4))["args"]
    assert engine_flags(args) == ["--engine", "vllm", "--engine-arg=--tensor-parallel-size=4"]


def test_a_tensor_parallel_size_in_engine_args_wins() -> None:
    args = runtime_container(**vllm(4, "--tensor-parallel-size=2"))["args"]
    assert engine_flags(args) == ["--engine", "vllm", "--engine-arg=--tensor-parallel-size=2"]


def test_one_gpu_or_cpu_sets_no_tensor_parallel_size() -> None:
    for gpus in (0, 1):
        assert engine_flags(runtime_container(**vllm(gpus))["args"]) == ["--engine", "vllm"]


def test_vllm_runs_the_cuda_image_with_gpus_and_the_cpu_image_without() -> None:
    assert runtime_container(**vllm(1))["image"] == "md:1-vllm"
    assert runtime_container(**vllm(0))["image"] == "md:1-vllm-cpu"


def test_the_spec_image_overrides_every_engine_image() -> None:
    for gpus in (0, 2):
        container = runtime_container(**vllm(gpus, image="registry.example/own:7"))
        assert container["image"] == "registry.example/own:7"


def test_jobs_keep_the_builtin_runtime_image() -> None:
    jobs = [o for o in objects(**vllm(1), cache={"size": "1Gi"}) if o["kind"] == "Job"]
    assert jobs
    for job in jobs:
        assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "md:1"


def pod_spec(**fields: Any) -> dict[str, Any]:
    deployment = next(o for o in objects(**fields) if o["kind"] == "Deployment")
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_vllm_gets_a_memory_backed_dev_shm_sized_by_its_gpus() -> None:
    """vLLM's processes share ring buffers of 160 MiB and more in /dev/shm; a container's
    own is 64 MiB (seen on the real node: Insufficient space in /dev/shm)."""
    for gpus, size in ((0, "1Gi"), (1, "1Gi"), (4, "4Gi")):
        pod = pod_spec(**vllm(gpus))
        volume = next(v for v in pod["volumes"] if v["name"] == "dshm")
        assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": size}
        mounts = pod["containers"][0]["volumeMounts"]
        assert {"name": "dshm", "mountPath": "/dev/shm"} in mounts


def test_the_builtin_engine_keeps_the_containers_own_dev_shm() -> None:
    pod = pod_spec()
    assert all(v["name"] != "dshm" for v in pod["volumes"])
