"""Values a cluster admin sets once reach the operator as the settings it reads."""

from __future__ import annotations

from pathlib import Path

from modeldeploy.operator import config
from tests.chart import rendering

ADMIN_VALUES = [
    "runtime.image=registry.example.com/ml/modeldeploy:9.9.9-cpu",
    "runtime.vllm.image=registry.example.com/ml/modeldeploy:9.9.9-vllm",
    "runtime.vllm.cpuImage=registry.example.com/ml/modeldeploy:9.9.9-vllm-cpu",
    "hub.endpoint=http://hub-mirror.models:8090",
    "cache.storageClassName=fast-rwx",
    "watchNamespaces={models,research}",
    "operator.statusPollSeconds=7",
    "operator.resolveSeconds=120",
    "operator.statusNetworks={10.244.0.0/16}",
]


def test_admin_values_become_the_operator_settings(helm_bin: Path) -> None:
    objects = rendering.render(helm_bin, sets=ADMIN_VALUES)
    env = rendering.env_of(rendering.operator_container(objects))
    settings = config.from_env(env)
    assert settings.runtime_image == "registry.example.com/ml/modeldeploy:9.9.9-cpu"
    assert settings.vllm_image == "registry.example.com/ml/modeldeploy:9.9.9-vllm"
    assert settings.vllm_cpu_image == "registry.example.com/ml/modeldeploy:9.9.9-vllm-cpu"
    assert settings.endpoint_for(None) == "http://hub-mirror.models:8090"
    assert settings.cache_storage_class == "fast-rwx"
    assert settings.namespaces == ("models", "research")
    assert settings.status_poll_seconds == 7
    assert settings.resolve_seconds == 120
    assert settings.status_networks == ("10.244.0.0/16",)


def test_defaults_mean_cluster_wide_and_this_release_runtime_image(helm_bin: Path) -> None:
    env = rendering.env_of(rendering.operator_container(rendering.render(helm_bin)))
    settings = config.from_env(env)
    assert settings.clusterwide
    assert settings.runtime_image == "ghcr.io/example/modeldeploy:0.1.0"
    # Each engine's images follow the release: vLLM's CUDA and CPU variants.
    assert settings.vllm_image == "ghcr.io/example/modeldeploy:0.1.0-vllm"
    assert settings.vllm_cpu_image == "ghcr.io/example/modeldeploy:0.1.0-vllm-cpu"
    assert settings.default_endpoint is None  # the public hub
    assert settings.cache_storage_class is None  # the cluster's default StorageClass


def test_every_variable_the_chart_sets_is_one_the_operator_reads(helm_bin: Path) -> None:
    env = rendering.env_of(rendering.operator_container(rendering.render(helm_bin)))
    known = {value for name, value in vars(config).items() if name.startswith("ENV_")}
    assert set(env) <= known, f"unknown to operator/config.py: {set(env) - known}"
