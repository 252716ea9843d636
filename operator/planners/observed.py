"""Plain views of what the operator observes: pods, fetch Jobs, runtime /status reports.

Parsed here from the API objects and JSON documents (pure functions), so the status
planner works on a few typed fields and unit tests build them without a cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from modeldeploy.operator.planners import naming
from modeldeploy.runtime_report import State, StatusDocument

PENDING = "Pending"
UNREACHABLE = "Unreachable"
"""The two states the operator adds to the runtime's own (`State`): no runtime to ask yet, or
one that does not answer."""
RUNTIME_UNREACHABLE = "RuntimeUnreachable"
"""The operator's reason for a runtime it could not get a /status from."""
RUNTIME_FAILED = "RuntimeFailed"
"""The operator's reason for a Failed runtime that named none."""
_REASON = re.compile(r"^([A-Z][A-Za-z0-9]*): (.*)$", re.DOTALL)


@dataclass(frozen=True)
class RuntimeReport:
    """One runtime's answer to GET /status, or why there was none (`reachable` False)."""

    reachable: bool
    state: str = UNREACHABLE
    progress: float = 0.0
    reason: str | None = None
    message: str | None = None
    commit: str | None = None
    verified: bool | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    download: Mapping[str, Any] | None = None
    requests: int | None = None
    """/v1 requests this runtime process served (its `usage`; None from older runtimes)."""
    last_request_at: str | None = None
    task: str | None = None
    """What the runtime serves (`model.task`: text-generation, embeddings), once it knows."""

    @classmethod
    def unreachable(cls, why: str) -> RuntimeReport:
        return cls(reachable=False, reason=RUNTIME_UNREACHABLE, message=why)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RuntimeReport:
        """Parse the runtime's /status document (unknown states are treated as unreachable).

        Its keys are the runtime's `StatusDocument` (mypy checks each one read here); its values
        are checked one by one all the same, since a runtime of another version may answer."""
        report = cast(StatusDocument, doc)
        raw_state = report.get("state")
        try:
            state = State(raw_state)
        except ValueError:
            return cls.unreachable(f"/status answered an unknown state {raw_state!r}")
        error, usage, model = report.get("error"), report.get("usage"), report.get("model")
        timings = {
            k: float(v)
            for k, v in (report.get("timings") or {}).items()
            if isinstance(v, int | float)
        }
        verified = report.get("verified")
        count = usage.get("requests") if isinstance(usage, dict) else None
        last = usage.get("lastRequestAt") if isinstance(usage, dict) else None
        task = model.get("task") if isinstance(model, dict) else None
        commit = report.get("commit")
        download = report.get("download")
        return cls(
            task=task if isinstance(task, str) else None,
            reachable=True,
            state=state,
            progress=min(max(float(report.get("progress") or 0.0), 0.0), 1.0),
            reason=error.get("reason") if isinstance(error, dict) else None,
            message=error.get("message") if isinstance(error, dict) else None,
            commit=commit if isinstance(commit, str) else None,
            verified=verified if isinstance(verified, bool) else None,
            timings=timings,
            download=download if isinstance(download, dict) else None,
            requests=count if isinstance(count, int) and not isinstance(count, bool) else None,
            last_request_at=last if isinstance(last, str) else None,
        )


@dataclass(frozen=True)
class PodView:
    """The fields of a runtime pod the status needs."""

    name: str
    node: str | None = None
    ip: str | None = None
    phase: str = "Pending"
    commit_label: str | None = None
    deleting: bool = False
    scheduled: bool | None = None
    unschedulable_message: str | None = None
    restarts: int = 0
    running: bool = False
    # The Pod's Ready condition: kubelet's own readiness probe passed, so the Service routes
    # to it. A runtime that says Ready is not serving users until this is true as well.
    ready: bool = False
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    terminated_message: str | None = None
    # The runtime container's last termination even while a restarted one runs (a restart
    # still starting up has proved nothing yet: the last failure stands until it is Ready).
    last_failure_message: str | None = None
    last_failure_reason: str | None = None
    memory_limit: str | None = None
    """The runtime container's memory limit (an OOMKilled replica says it hit it)."""

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> PodView:
        metadata, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
        scheduled = _condition(status, "PodScheduled")
        container = _runtime_container_status(status)
        state = container.get("state", {})
        # The last termination explains a container that is down (waiting to restart), not
        # one that restarted and runs again: that one is judged by its runtime's answer.
        last = {} if "running" in state else container.get("lastState", {}).get("terminated")
        terminated = state.get("terminated") or last or {}
        return cls(
            name=metadata.get("name", "?"),
            node=spec.get("nodeName"),
            ip=status.get("podIP"),
            phase=status.get("phase", "Pending"),
            commit_label=(metadata.get("labels") or {}).get(naming.LABEL_REVISION),
            deleting=bool(metadata.get("deletionTimestamp")),
            scheduled=None if scheduled is None else scheduled.get("status") == "True",
            unschedulable_message=(scheduled or {}).get("message")
            if scheduled and scheduled.get("status") != "True"
            else None,
            restarts=int(container.get("restartCount", 0)),
            running="running" in state,
            ready=(_condition(status, "Ready") or {}).get("status") == "True",
            waiting_reason=(state.get("waiting") or {}).get("reason"),
            waiting_message=(state.get("waiting") or {}).get("message"),
            terminated_reason=terminated.get("reason"),
            terminated_message=terminated.get("message"),
            last_failure_message=(container.get("lastState", {}).get("terminated") or {}).get(
                "message"
            ),
            last_failure_reason=(container.get("lastState", {}).get("terminated") or {}).get(
                "reason"
            ),
            memory_limit=_memory_limit(spec),
        )

    @property
    def previous_failure(self) -> tuple[str, str] | None:
        """(reason, message) of the last termination, when it was a failure: the same words
        as while the container was down, so a crash loop does not flap at each restart."""
        return self._termination_failure(self.last_failure_reason, self.last_failure_message)

    @property
    def failure(self) -> tuple[str, str] | None:
        """(reason, message) from the termination message (the runtime writes `Reason: text`)."""
        ended = self._termination_failure(self.terminated_reason, self.terminated_message)
        if ended is not None:
            return ended
        if self.waiting_reason in {
            "CrashLoopBackOff",
            "ImagePullBackOff",
            "ErrImagePull",
            "CreateContainerConfigError",
            "InvalidImageName",
        }:
            return self.waiting_reason, self.waiting_message or self.waiting_reason
        return None

    def _termination_failure(
        self, reason: str | None, message: str | None
    ) -> tuple[str, str] | None:
        """A termination as a failure: OOMKilled says the limit it hit (its message is only the
        last log line), a typed message its reason, any other failed exit its log's last word."""
        text = (message or "").strip()
        if reason == "OOMKilled":
            limit = (
                f"its memory limit of {self.memory_limit}"
                if self.memory_limit
                else "the node's memory (no memory limit is set)"
            )
            return reason, f"the runtime container was killed for using {limit}"
        match = _REASON.match(text)
        if match:
            return match[1], match[2]
        if text:
            return reason or "Terminated", text
        if reason not in {None, "Completed"}:
            return reason or "Terminated", f"the runtime container exited ({reason})"
        return None


def _memory_limit(spec: Mapping[str, Any]) -> str | None:
    containers = spec.get("containers") or []
    runtime = next((c for c in containers if c.get("name") == "runtime"), None)
    limit = (((runtime or {}).get("resources") or {}).get("limits") or {}).get("memory")
    return str(limit) if limit else None


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def _runtime_container_status(status: Mapping[str, Any]) -> Mapping[str, Any]:
    statuses = status.get("containerStatuses") or []
    return next(
        (s for s in statuses if s.get("name") == "runtime"), statuses[0] if statuses else {}
    )


@dataclass(frozen=True)
class FetchView:
    """A fetch Job for one commit, with its latest progress line when one was read."""

    name: str
    commit: str
    active: bool = False
    succeeded: bool = False
    failed: bool = False
    started_at: str | None = None
    completed_at: str | None = None
    failure_message: str | None = None
    progress: Mapping[str, Any] | None = None

    @classmethod
    def from_job(
        cls, job: Mapping[str, Any], *, progress: Mapping[str, Any] | None = None
    ) -> FetchView:
        metadata, status = job.get("metadata", {}), job.get("status", {})
        conditions = {
            c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
        }
        failed = conditions.get("Failed")
        return cls(
            name=metadata.get("name", "?"),
            commit=(metadata.get("annotations") or {}).get(naming.ANNOTATION_COMMIT, ""),
            active=bool(status.get("active")),
            succeeded="Complete" in conditions or bool(status.get("succeeded")),
            failed=failed is not None,
            started_at=status.get("startTime"),
            completed_at=status.get("completionTime"),
            failure_message=(failed or {}).get("message"),
            progress=progress,
        )

    @property
    def failed_finally(self) -> bool:
        """The fetch ended without success (an error, nothing running, nothing succeeded)."""
        return self.error is not None and not self.active and not self.succeeded

    @property
    def error(self) -> tuple[str, str] | None:
        """The fetcher's typed reason (from its last JSON line), else the Job's own message."""
        if self.progress and self.progress.get("event") == "error":
            return str(self.progress.get("reason") or "FetchFailed"), str(
                self.progress.get("message") or ""
            )
        if self.failed:
            return "FetchFailed", self.failure_message or "the fetch Job failed"
        return None


def last_progress_line(log_text: str) -> dict[str, Any] | None:
    """The last `--progress json` line of a fetch log (other lines are ignored)."""
    return last_json_line(log_text, key="event")


def last_json_line(log_text: str, *, key: str | None = None) -> dict[str, Any] | None:
    """The last line of a log that is a JSON object (holding `key`, when given): a fetch's
    progress, or the report a ModelCache's maintenance Job prints last."""
    for raw in reversed(log_text.splitlines()):
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and (key is None or key in doc):
            return doc
    return None
