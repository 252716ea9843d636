"""Startup budgets follow the model size (with a floor and a cap), probes hit the contract paths."""

from __future__ import annotations

from modeldeploy.operator.planners import probes

GIB = 1 << 30


def test_tiny_models_get_the_floor() -> None:
    budget = probes.startup_budget(weight_bytes=1 << 20, per_pod_download=False, full_verify=False)
    assert budget.seconds == probes.FLOOR_SECONDS
    assert budget.failure_threshold * budget.period == budget.seconds


def test_budget_grows_with_the_model() -> None:
    small = probes.startup_budget(weight_bytes=16 * GIB, per_pod_download=False, full_verify=False)
    large = probes.startup_budget(weight_bytes=140 * GIB, per_pod_download=False, full_verify=False)
    assert probes.FLOOR_SECONDS < small.seconds < large.seconds


def test_per_pod_download_and_full_verify_add_time() -> None:
    cached = probes.startup_budget(weight_bytes=16 * GIB, per_pod_download=False, full_verify=False)
    verified = probes.startup_budget(
        weight_bytes=16 * GIB, per_pod_download=False, full_verify=True
    )
    per_pod = probes.startup_budget(weight_bytes=16 * GIB, per_pod_download=True, full_verify=False)
    assert cached.seconds < verified.seconds < per_pod.seconds


def test_huge_models_are_capped() -> None:
    budget = probes.startup_budget(weight_bytes=4000 * GIB, per_pod_download=True, full_verify=True)
    assert budget.seconds == probes.CAP_SECONDS


def test_unknown_size_uses_the_documented_budget() -> None:
    budget = probes.startup_budget(weight_bytes=None, per_pod_download=True, full_verify=False)
    assert budget.seconds == probes.UNKNOWN_SIZE_BUDGET


def test_probes_use_the_runtime_paths_on_the_named_port() -> None:
    got = probes.probes(
        probes.startup_budget(weight_bytes=GIB, per_pod_download=False, full_verify=False)
    )
    paths = {name: probe["httpGet"]["path"] for name, probe in got.items()}
    assert paths == {
        "startupProbe": "/startupz",
        "readinessProbe": "/readyz",
        "livenessProbe": "/livez",
    }
    assert {probe["httpGet"]["port"] for probe in got.values()} == {"http"}


def test_the_vllm_engine_gets_time_to_start_on_top() -> None:
    size = 64 * GIB  # above the floor either way
    builtin = probes.startup_budget(weight_bytes=size, per_pod_download=False, full_verify=False)
    vllm = probes.startup_budget(
        weight_bytes=size, per_pod_download=False, full_verify=False, engine="vllm"
    )
    assert vllm.seconds - builtin.seconds >= probes.ENGINE_START_SECONDS["vllm"] - 10
    tiny = probes.startup_budget(
        weight_bytes=1 << 20, per_pod_download=False, full_verify=False, engine="vllm"
    )
    assert tiny.seconds >= 600
