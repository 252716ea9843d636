"""Operator settings: flags over environment over defaults.

A cluster admin sets these once (the Helm chart writes them as environment variables);
every ModelDeployment that leaves a field empty inherits them. Kept in one frozen
dataclass so planners receive plain values, never read the environment themselves.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

FIELD_MANAGER = "modeldeploy"
DEFAULT_RUNTIME_IMAGE = "ghcr.io/modeldeploy/modeldeploy:0.1.0"
DEFAULT_VLLM_IMAGE = "ghcr.io/modeldeploy/modeldeploy:0.1.0-vllm"
DEFAULT_VLLM_CPU_IMAGE = "ghcr.io/modeldeploy/modeldeploy:0.1.0-vllm-cpu"
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"

ENV_RUNTIME_IMAGE = "MODELDEPLOY_RUNTIME_IMAGE"
ENV_VLLM_IMAGE = "MODELDEPLOY_VLLM_IMAGE"
ENV_VLLM_CPU_IMAGE = "MODELDEPLOY_VLLM_CPU_IMAGE"
ENV_DEFAULT_ENDPOINT = "MODELDEPLOY_DEFAULT_ENDPOINT"
ENV_CACHE_STORAGE_CLASS = "MODELDEPLOY_CACHE_STORAGE_CLASS"
ENV_NAMESPACES = "MODELDEPLOY_NAMESPACES"
ENV_STATUS_POLL_SECONDS = "MODELDEPLOY_STATUS_POLL_SECONDS"
ENV_RESOLVE_SECONDS = "MODELDEPLOY_RESOLVE_SECONDS"
ENV_STATUS_NETWORKS = "MODELDEPLOY_STATUS_NETWORKS"
ENV_CACHE_INVENTORY_SECONDS = "MODELDEPLOY_CACHE_INVENTORY_SECONDS"
ENV_METRICS_PORT = "MODELDEPLOY_METRICS_PORT"
ENV_HEALTH_PORT = "MODELDEPLOY_HEALTH_PORT"


class SettingsError(ValueError):
    """A setting that cannot be used (bad number, bad network); names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the operator is configured with (defaults for ModelDeployments included)."""

    runtime_image: str = DEFAULT_RUNTIME_IMAGE
    """Image of the builtin engine's pods, and of every fetch and clean-up Job."""
    vllm_image: str = DEFAULT_VLLM_IMAGE
    """Image of `engine: vllm` pods with GPUs (vLLM built for CUDA)."""
    vllm_cpu_image: str = DEFAULT_VLLM_CPU_IMAGE
    """Image of `engine: vllm` pods without GPUs (gpu.count 0: vLLM's CPU build)."""
    default_endpoint: str | None = None
    cache_storage_class: str | None = None
    namespaces: tuple[str, ...] = ()
    """Watched namespaces; empty means cluster-wide."""
    status_poll_seconds: float = 15.0
    """How often each ModelDeployment's runtimes are asked for /status (and status refreshed)."""
    resolve_seconds: float = 300.0
    """How often a moving revision (a branch) is resolved again."""
    status_networks: tuple[str, ...] = ()
    """Networks the operator may cause traffic to: pod IPs (GET /status) and node IPs (fetch
    Job logs, which the API server reads from the node's kubelet). Empty: any."""
    cache_inventory_seconds: float = 600.0
    """How often a ModelCache's volume is looked at (and its retention policy applied) by a
    clean-up Job when nothing else asked for one."""
    field_manager: str = FIELD_MANAGER
    metrics_port: int | None = 9090
    health_port: int | None = 8081

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    def endpoint_for(self, spec_endpoint: str | None) -> str:
        """The hub endpoint a ModelDeployment uses: its own, the operator's, the public hub."""
        return spec_endpoint or self.default_endpoint or DEFAULT_HUB_ENDPOINT

    def may_poll(self, pod_ip: str) -> bool:
        """Whether /status may be requested from `pod_ip` (the allow-list of networks)."""
        if not self.status_networks:
            return True
        try:
            address = ipaddress.ip_address(pod_ip)
        except ValueError:
            return False
        return any(
            address in ipaddress.ip_network(net, strict=False) for net in self.status_networks
        )

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given fields replaced; None values leave the field as it was."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings read from MODELDEPLOY_* environment variables (the Helm chart sets them)."""
    env = os.environ if environ is None else environ
    return Settings(
        runtime_image=env.get(ENV_RUNTIME_IMAGE) or DEFAULT_RUNTIME_IMAGE,
        vllm_image=env.get(ENV_VLLM_IMAGE) or DEFAULT_VLLM_IMAGE,
        vllm_cpu_image=env.get(ENV_VLLM_CPU_IMAGE) or DEFAULT_VLLM_CPU_IMAGE,
        default_endpoint=env.get(ENV_DEFAULT_ENDPOINT) or None,
        cache_storage_class=env.get(ENV_CACHE_STORAGE_CLASS) or None,
        namespaces=_split(env.get(ENV_NAMESPACES, "")),
        status_poll_seconds=_seconds(env, ENV_STATUS_POLL_SECONDS, 15.0),
        resolve_seconds=_seconds(env, ENV_RESOLVE_SECONDS, 300.0),
        status_networks=_networks(env.get(ENV_STATUS_NETWORKS, "")),
        cache_inventory_seconds=_seconds(env, ENV_CACHE_INVENTORY_SECONDS, 600.0),
        metrics_port=_port(env, ENV_METRICS_PORT, 9090),
        health_port=_port(env, ENV_HEALTH_PORT, 8081),
    )


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 1:
        raise SettingsError(f"{name}={raw!r}: at least 1 second (no hot loops)")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw in {"0", "off", "none"}:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r} is not a TCP port (or 'off')")
    return int(raw)


def _networks(value: str) -> tuple[str, ...]:
    networks = _split(value)
    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise SettingsError(f"{ENV_STATUS_NETWORKS}: {net!r} is not a CIDR") from None
    return networks
