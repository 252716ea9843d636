"""What the status planner works from: the resolve outcome, each replica, one reconcile's inputs.

Kept apart from the rules (phase, verdicts, status) so that each rule module imports the same
small types and none imports another's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from modeldeploy.operator.api.spec import ModelDeploymentSpec
from modeldeploy.operator.api.status import ModelDeploymentStatus, ReplicaStatus, SharedCacheStatus
from modeldeploy.operator.planners import memory, naming
from modeldeploy.operator.planners.observed import (
    PENDING,
    RUNTIME_FAILED,
    UNREACHABLE,
    FetchView,
    PodView,
    RuntimeReport,
)
from modeldeploy.operator.planners.placement import Fit
from modeldeploy.operator.planners.rollout import Plan
from modeldeploy.operator.planners.usage import Tally
from modeldeploy.runtime_report import BEFORE_READY, State

# Runtime states of a container that has not yet proved anything since its last restart.
STARTING_STATES = frozenset(BEFORE_READY)


@dataclass(frozen=True)
class ResolveOutcome:
    """The latest resolve: the commit (possibly from before) and the error of this attempt."""

    commit: str | None
    revision: str
    error: tuple[str, str] | None = None
    retryable: bool = False
    seconds: float | None = None


@dataclass(frozen=True)
class Replica:
    pod: PodView
    report: RuntimeReport
    # The typed failure the last written status showed for this pod (its runtime's last word):
    # kept while the runtime cannot be asked and kubelet has not reported the crash yet.
    last_failure: tuple[str, str] | None = None
    estimate_bytes: int | None = None
    """The memory the model is estimated to need (an OOMKilled replica says it beside the
    limit it hit)."""

    @property
    def state(self) -> str:
        if self.report.reachable:
            return self.report.state
        return UNREACHABLE if self.pod.running else PENDING

    @property
    def runtime_ready(self) -> bool:
        """The runtime itself reports Ready (its weights are loaded and warmed up)."""
        return self.report.reachable and self.report.state == State.READY and not self.pod.deleting

    @property
    def ready(self) -> bool:
        """Ready for users: the runtime says so *and* kubelet's readiness probe admitted the pod
        to the Service (until then a request through the Service cannot reach it)."""
        return self.runtime_ready and self.pod.ready

    @property
    def awaiting_probe(self) -> bool:
        return self.runtime_ready and not self.pod.ready

    def serves(self, commit: str | None) -> bool:
        """Whether this replica runs `commit`: the runtime's own answer, else its pod label."""
        if commit is None:
            return True
        if self.report.reachable and self.report.commit:
            return self.report.commit == commit
        if self.pod.commit_label and self.pod.commit_label != naming.UNRESOLVED_REVISION:
            return self.pod.commit_label == naming.short_sha(commit)
        return True

    @property
    def failure(self) -> tuple[str, str] | None:
        return self._with_need(self._failure())

    def _with_need(self, failure: tuple[str, str] | None) -> tuple[str, str] | None:
        if failure is None or failure[0] != "OOMKilled" or not self.estimate_bytes:
            return failure
        need = f"the model needs an estimated {memory.human(self.estimate_bytes)}"
        return failure if need in failure[1] else (failure[0], f"{failure[1]}; {need}")

    def _failure(self) -> tuple[str, str] | None:
        if self.report.reachable:
            # The runtime answers: its state is the truth (a pod that restarted once and
            # recovered still carries its last termination message).
            if self.report.state == State.FAILED:
                return self.report.reason or RUNTIME_FAILED, self.report.message or ""
            if self.report.state in STARTING_STATES:
                return self._standing_failure()
            return None
        if self.pod.failure is None and not self.pod.ready:
            # Not answering: a restart still importing, or a crash kubelet has not reported.
            return self._standing_failure()
        return self.pod.failure

    def _standing_failure(self) -> tuple[str, str] | None:
        """The pod's last typed failure, which stands until its runtime proves itself again
        (else the status would flap with every crash-loop restart): the last termination
        once kubelet restarted it, else what the last written status showed."""
        if self.pod.deleting:
            return None
        return self.pod.previous_failure if self.pod.restarts else self.last_failure

    def _shown_state(self, failure: tuple[str, str] | None) -> str:
        """A restart still starting up shows what it does now; its reason says what failed."""
        if failure is None:
            return self.state
        restarting = self.report.reachable and self.report.state in STARTING_STATES
        return self.state if restarting else State.FAILED

    def to_status(self) -> ReplicaStatus:
        failure = self.failure
        reason, message = failure if failure else (None, None)
        if failure is None and not self.report.reachable:
            reason, message = (
                ("Unschedulable", self.pod.unschedulable_message)
                if self.pod.scheduled is False
                else (self.report.reason, self.report.message)
            )
        return ReplicaStatus(
            name=self.pod.name,
            node=self.pod.node,
            state=self._shown_state(failure),
            progress=self.report.progress if self.report.reachable else 0.0,
            ready=self.ready,
            reason=reason,
            message=message,
            restarts=self.pod.restarts,
        )


@dataclass(frozen=True)
class StatusInputs:
    name: str
    generation: int
    spec: ModelDeploymentSpec
    previous: ModelDeploymentStatus
    plan: Plan
    resolve: ResolveOutcome
    fetch: FetchView | None
    replicas: Sequence[Replica]
    fit: Fit | None
    estimate_bytes: int | None
    now: datetime
    apply_errors: Sequence[str] = ()
    """What the API server refused to apply this time, one line per object."""
    shared: SharedCacheStatus | None = None
    """With spec.cache.name: the ModelCache directory and its state."""
    usage: Tally | None = None
    serving_elsewhere: str | None = None
    """During a switch of candidate model: the commit the serving candidate's replicas run
    (they serve, and count as ready, until the new candidate's replicas replace them)."""


def first_failure(runtime: Sequence[Replica]) -> tuple[Replica, tuple[str, str]] | None:
    """The first failed replica and its (reason, message), in the order given."""
    for replica in runtime:
        failure = replica.failure
        if failure is not None:
            return replica, failure
    return None
