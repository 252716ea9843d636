"""An OOMKilled replica says the memory limit it hit and what the model needs.

Seen by a new user on the real node: kubelet's message for an OOMKilled container is the last
lines of its log (terminationMessagePolicy FallbackToLogsOnError), which says nothing of memory.
"""

from __future__ import annotations

from datetime import UTC, datetime

from modeldeploy.operator import indexes
from modeldeploy.operator.api.status import ModelDeploymentStatus
from modeldeploy.operator.config import Settings
from modeldeploy.operator.planners import naming, rollout
from modeldeploy.operator.planners import status as planner
from modeldeploy.operator.planners.observed import PodView, RuntimeReport
from tests.operator.unit.builders import COMMIT_A, pod, runtime_status, spec

LOG_LINE = "Loading: 41% model-00002-of-00004.safetensors"
GIB = 1 << 30


def _oom_pod(**fields: object) -> dict:
    return pod(
        "tiny-1",
        running=False,
        terminated_message=LOG_LINE,
        terminated_reason="OOMKilled",
        waiting_reason="CrashLoopBackOff",
        restarts=1,
        memory_limit="8Gi",
        **fields,  # type: ignore[arg-type]
    )


def _status(replica: planner.Replica) -> ModelDeploymentStatus:
    the_spec = spec(replicas=1)
    ctx = rollout.Context(
        names=naming.Names(name="tiny", namespace="ml"),
        uid="u",
        settings=Settings(),
        commit=COMMIT_A,
    )
    return planner.plan_status(
        planner.StatusInputs(
            name="tiny",
            generation=1,
            spec=the_spec,
            previous=ModelDeploymentStatus(),
            plan=rollout.plan(the_spec, ctx),
            resolve=planner.ResolveOutcome(COMMIT_A, "main"),
            fetch=None,
            replicas=[replica],
            fit=None,
            estimate_bytes=15 * GIB,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def test_the_replica_names_the_limit_it_hit_and_the_estimate_not_its_last_log_line() -> None:
    view = PodView.from_pod(_oom_pod())
    status = _status(planner.Replica(view, RuntimeReport.unreachable("connection refused")))
    shown = status.replica_statuses[0]
    assert shown.reason == "OOMKilled"
    assert shown.message == (
        "the runtime container was killed for using its memory limit of 8Gi; "
        "the model needs an estimated 15.0 GiB"
    )
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert ready.reason == "OOMKilled" and "memory limit of 8Gi" in ready.message
    assert LOG_LINE not in (status.message or "")


def test_a_restarted_replica_keeps_saying_so_while_it_loads_again() -> None:
    restarted = PodView.from_pod(
        pod(
            "tiny-1",
            running=True,
            ready=False,
            terminated_message=LOG_LINE,
            terminated_reason="OOMKilled",
            restarts=2,
            memory_limit="8Gi",
        )
    )
    loading = RuntimeReport.from_json(runtime_status("Loading", progress=0.3))
    status = _status(planner.Replica(restarted, loading))
    assert status.replica_statuses[0].reason == "OOMKilled"
    assert "memory limit of 8Gi" in (status.replica_statuses[0].message or "")


def test_without_a_limit_it_says_the_node_ran_out() -> None:
    view = PodView.from_pod(_oom_pod() | {"spec": {"nodeName": "n1"}})
    assert view.failure == (
        "OOMKilled",
        "the runtime container was killed for using the node's memory (no memory limit is set)",
    )


def test_the_pod_index_keeps_the_runtime_containers_memory_limit() -> None:
    body = _oom_pod()
    body["metadata"] |= {"namespace": "ml", "labels": {naming.LABEL_DEPLOYMENT: "tiny"}}
    body["spec"]["containers"][0] |= {"image": "img:1", "env": [{"name": "X", "value": "y"}]}
    (entry,) = indexes.child_entry("pods", body).values()
    assert PodView.from_pod(entry).memory_limit == "8Gi"
    assert "env" not in str(entry)  # trimmed: only what the planners read
