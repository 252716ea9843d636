"""Small builders of specs, nodes and pods for the planner tests (plain data, no cluster)."""

from __future__ import annotations

from typing import Any

from modeldeploy.operator.api.spec import ModelDeploymentSpec

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def spec(**fields: Any) -> ModelDeploymentSpec:
    body: dict[str, Any] = {"model": {"repo": "acme/tiny"}}
    body.update(fields)
    return ModelDeploymentSpec.model_validate(body)


def node(
    name: str,
    *,
    product: str | None,
    memory_mib: int | None,
    gpus: int = 8,
    resource: str = "nvidia.com/gpu",
    unschedulable: bool = False,
    **labels: str,
) -> dict[str, Any]:
    all_labels = dict(labels)
    if product:
        all_labels["nvidia.com/gpu.product"] = product
    if memory_mib is not None:
        label = "nvidia.com/gpu.memory" if resource == "nvidia.com/gpu" else f"{resource}.memory"
        all_labels[label] = str(memory_mib)
    allocatable = {"cpu": "32", "memory": "256Gi"}
    if gpus:
        allocatable[resource] = str(gpus)
    return {
        "metadata": {"name": name, "labels": all_labels},
        "spec": {"unschedulable": unschedulable},
        "status": {"allocatable": allocatable},
    }


def pod(
    name: str,
    *,
    node_name: str | None = "n1",
    ip: str | None = "10.0.0.5",
    running: bool = True,
    scheduled: bool | None = True,
    unschedulable_message: str | None = None,
    terminated_message: str | None = None,
    waiting_reason: str | None = None,
    deleting: bool = False,
    restarts: int = 0,
    ready: bool | None = None,
    terminated_reason: str = "Error",
    memory_limit: str | None = None,
) -> dict[str, Any]:
    """A runtime pod; `ready` is its Ready condition (kubelet's probe), by default `running`."""
    conditions = [
        {"type": "Ready", "status": "True" if (running if ready is None else ready) else "False"}
    ]
    if scheduled is not None:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True" if scheduled else "False",
                "reason": None if scheduled else "Unschedulable",
                "message": unschedulable_message,
            }
        )
    state: dict[str, Any] = {}
    last: dict[str, Any] = {}
    if running:
        state["running"] = {"startedAt": "2026-01-01T00:00:00Z"}
    if waiting_reason:
        state = {"waiting": {"reason": waiting_reason, "message": "back-off"}}
    if terminated_message:
        last = {
            "terminated": {
                "reason": terminated_reason,
                "exitCode": 1,
                "message": terminated_message,
            }
        }
    metadata: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/component": "runtime"}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": metadata,
        "spec": {"nodeName": node_name, "containers": [_runtime_container(memory_limit)]},
        "status": {
            "phase": "Running" if running else "Pending",
            "podIP": ip,
            "conditions": conditions,
            "containerStatuses": [
                {"name": "runtime", "restartCount": restarts, "state": state, "lastState": last}
            ],
        },
    }


def _runtime_container(memory_limit: str | None) -> dict[str, Any]:
    limits = {"memory": memory_limit} if memory_limit else {}
    return {"name": "runtime", "resources": {"limits": limits}}


def runtime_status(
    state: str,
    *,
    progress: float = 0.0,
    error: tuple[str, str] | None = None,
    verified: bool = True,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    return {
        "state": state,
        "progress": progress,
        "verified": verified,
        "error": {"reason": error[0], "message": error[1]} if error else None,
        "timings": timings or {},
    }
