"""Test doubles for one reconcile without a cluster: the API server, runtimes, the hub.

FakeKube records what the reconciler asks of the API server and refuses what a test tells
it to; FakeReporter answers /status per pod name; OfflineReconciler answers resolves and
size estimates without a hub (the network is what cannot run in a unit test).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modeldeploy.operator import indexes, kube
from modeldeploy.operator.config import Settings
from modeldeploy.operator.hub_lookups import HubLookups
from modeldeploy.operator.planners import status as status_planner
from modeldeploy.operator.planners.observed import PodView, RuntimeReport
from modeldeploy.operator.reconciler import Reconciler
from tests.operator.unit.builders import COMMIT_A

UID = "uid-1"


class FakeKube:
    """Records applies, status patches and events; `refuse` maps a kind to a KubeError."""

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []
        self.patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self.deleted: list[str] = []
        self.refuse: dict[str, kube.KubeError] = {}
        self.secrets: dict[tuple[str, str], str] = {}
        self.secret_error: kube.KubeError | None = None

    async def apply(self, obj: Mapping[str, Any]) -> kube.Applied:
        refusal = self.refuse.get(obj["kind"])
        if refusal is not None:
            raise refusal
        self.applied.append(dict(obj))
        return kube.Applied(generation=1, resource_version=str(len(self.applied)))

    async def delete_job(self, *, namespace: str, name: str) -> None:
        self.deleted.append(name)

    async def patch_status(self, *, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.patches.append(dict(status))

    async def pod_log_tail(self, *, namespace: str, pod: str, lines: int = 20) -> str:
        return ""

    async def read_secret_key(self, *, namespace: str, name: str, key: str) -> str:
        if self.secret_error is not None:
            raise self.secret_error
        if (name, key) not in self.secrets:
            raise kube.KubeError(
                f"token Secret {namespace}/{name}: absent", code=404, transient=False
            )
        return self.secrets[(name, key)]

    async def post_event(
        self, *, namespace: str, name: str, uid: str, type_: str, reason: str, message: str
    ) -> None:
        self.events.append((type_, reason, message))


class FakeReporter:
    """Answers /status per pod name (unreachable for pods it does not know)."""

    def __init__(self, answers: Mapping[str, RuntimeReport] | None = None) -> None:
        self.answers = dict(answers or {})

    async def reports(self, pods: Sequence[PodView], *, port: int) -> list[RuntimeReport]:
        return [self.answers.get(p.name, RuntimeReport.unreachable("no answer")) for p in pods]


class OfflineHub(HubLookups):
    """HubLookups whose hub answers are fixed: `commit` for every resolve, no size."""

    commit: str | None = COMMIT_A
    asks = 0

    async def ask_hub(self, key: Any, spec: Any, earlier: str | None) -> Any:
        self.asks += 1
        return status_planner.ResolveOutcome(self.commit, spec.model.revision, None, False, 0.1)

    async def ask_size(self, key: Any, spec: Any, commit: str, endpoint: str) -> int | None:
        return None


class OfflineReconciler(Reconciler):
    """A Reconciler that asks an OfflineHub instead of the hub."""

    hub: OfflineHub


def make(
    *, settings: Settings | None = None, answers: Mapping[str, RuntimeReport] | None = None
) -> tuple[OfflineReconciler, FakeKube]:
    client = FakeKube()
    settings = settings or Settings(runtime_image="img:1")
    reconciler = OfflineReconciler(
        settings=settings,
        client=client,  # type: ignore[arg-type]
        reporter=FakeReporter(answers),  # type: ignore[arg-type]
    )
    reconciler.hub = OfflineHub(settings=settings, client=client)  # type: ignore[arg-type]
    return reconciler, client


def body(
    spec: Mapping[str, Any], *, status: Mapping[str, Any] | None = None, generation: int = 1
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "tiny", "namespace": "ml", "uid": UID, "generation": generation},
        "spec": dict(spec),
    }
    if status is not None:
        doc["status"] = dict(status)
    return doc


def view(**children: list[dict[str, Any]]) -> indexes.IndexView:
    """An IndexView holding `children` (kind → objects) of ml/tiny."""
    return indexes.IndexView({kind: {("ml", "tiny"): objs} for kind, objs in children.items()})
