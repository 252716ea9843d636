"""spec.runtime.{maxQueue, maxBatch, requestTimeout} become `serve` flags only when set;
spec.runtime.apiKeySecretRef becomes a read-only Secret volume (the whole volume, so an updated
Secret reaches the pod) and `--api-key-file` naming its file: the key itself is never in the
arguments nor the environment."""

from __future__ import annotations

from typing import Any

from modeldeploy.operator.planners import naming, workload
from tests.operator.unit.builders import COMMIT_A, spec

NAMES = naming.Names(name="chat", namespace="ml")
KEY_FILE = "/var/run/modeldeploy/api-key/api-key"


def pod(**fields: Any) -> dict[str, Any]:
    inputs = workload.WorkloadInputs(
        names=NAMES,
        uid="u-1",
        commit=COMMIT_A,
        image="img:1",
        endpoint=None,
        replicas=1,
        weight_bytes=1 << 20,
    )
    pod_spec: dict[str, Any] = workload.deployment(spec(**fields), inputs)["spec"]["template"][
        "spec"
    ]
    return pod_spec


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_unset_bounds_pass_no_flags_and_the_runtime_keeps_its_defaults() -> None:
    args = pod()["containers"][0]["args"]
    for name in ("--max-queue", "--max-batch", "--request-timeout", "--api-key-file"):
        assert name not in args


def test_set_bounds_become_flags() -> None:
    runtime = {"maxQueue": 200, "maxBatch": 32, "requestTimeout": 0}
    args = pod(runtime=runtime)["containers"][0]["args"]
    assert flag(args, "--max-queue") == "200"
    assert flag(args, "--max-batch") == "32"
    assert flag(args, "--request-timeout") == "0"  # 0 is set: no limit, not the default


def test_the_api_key_is_a_mounted_file_named_by_path() -> None:
    the_pod = pod(runtime={"apiKeySecretRef": {"name": "chat-keys", "key": "primary"}})
    container = the_pod["containers"][0]
    assert flag(container["args"], "--api-key-file") == KEY_FILE
    volume = next(v for v in the_pod["volumes"] if v["name"] == "api-key")
    assert volume["secret"]["secretName"] == "chat-keys"
    assert volume["secret"]["items"] == [{"key": "primary", "path": "api-key"}]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "api-key")
    assert mount == {
        "name": "api-key",
        "mountPath": "/var/run/modeldeploy/api-key",
        "readOnly": True,
    }  # no subPath: kubelet swaps an updated Secret in
    assert all("secretKeyRef" not in str(e) for e in container["env"])


def test_the_api_key_secrets_key_defaults_to_token() -> None:
    the_pod = pod(runtime={"apiKeySecretRef": {"name": "chat-keys"}})
    volume = next(v for v in the_pod["volumes"] if v["name"] == "api-key")
    assert volume["secret"]["items"] == [{"key": "token", "path": "api-key"}]


def test_the_key_volume_sits_beside_the_cache_volume() -> None:
    the_pod = pod(cache={"size": "1Gi"}, runtime={"apiKeySecretRef": {"name": "chat-keys"}})
    names = [v["name"] for v in the_pod["volumes"]]
    assert "cache" in names and "api-key" in names
    mounts = [m["name"] for m in the_pod["containers"][0]["volumeMounts"]]
    assert "cache" in mounts and "api-key" in mounts
