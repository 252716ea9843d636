"""Operator settings from MODELDEPLOY_* variables (what the Helm chart sets)."""

from __future__ import annotations

import pytest

from modeldeploy.operator import config


def test_defaults_are_cluster_wide_with_throttled_polling() -> None:
    settings = config.from_env({})
    assert settings.clusterwide and settings.status_poll_seconds >= 5
    assert settings.field_manager == "modeldeploy"
    assert settings.endpoint_for(None) == config.DEFAULT_HUB_ENDPOINT


def test_environment_sets_defaults_for_model_deployments() -> None:
    settings = config.from_env(
        {
            "MODELDEPLOY_RUNTIME_IMAGE": "reg/img:2",
            "MODELDEPLOY_DEFAULT_ENDPOINT": "http://mirror",
            "MODELDEPLOY_CACHE_STORAGE_CLASS": "fast",
            "MODELDEPLOY_NAMESPACES": "a, b",
            "MODELDEPLOY_STATUS_NETWORKS": "10.0.0.0/8",
            "MODELDEPLOY_METRICS_PORT": "off",
        }
    )
    assert settings.runtime_image == "reg/img:2" and settings.cache_storage_class == "fast"
    assert settings.namespaces == ("a", "b") and not settings.clusterwide
    assert (
        settings.endpoint_for(None) == "http://mirror"
        and settings.endpoint_for("http://own") == "http://own"
    )
    assert settings.may_poll("10.1.2.3") and not settings.may_poll("192.168.0.1")
    assert settings.metrics_port is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODELDEPLOY_STATUS_POLL_SECONDS", "0.1"),
        ("MODELDEPLOY_STATUS_POLL_SECONDS", "soon"),
        ("MODELDEPLOY_STATUS_NETWORKS", "not-a-cidr"),
        ("MODELDEPLOY_HEALTH_PORT", "99999"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(config.SettingsError, match=name):
        config.from_env({name: value})


def test_each_engine_has_its_images_from_the_environment() -> None:
    settings = config.from_env(
        {
            "MODELDEPLOY_VLLM_IMAGE": "reg/md:2-vllm",
            "MODELDEPLOY_VLLM_CPU_IMAGE": "reg/md:2-vllm-cpu",
        }
    )
    assert (settings.vllm_image, settings.vllm_cpu_image) == ("reg/md:2-vllm", "reg/md:2-vllm-cpu")
    defaults = config.from_env({"MODELDEPLOY_VLLM_IMAGE": ""})
    assert defaults.vllm_image == config.DEFAULT_VLLM_IMAGE
    assert defaults.vllm_cpu_image == config.DEFAULT_VLLM_CPU_IMAGE
