"""Requests served by a ModelDeployment's replicas, kept across runtime restarts.

Each runtime counts the /v1 requests it served since its process started (`/status`
`usage.requests`); a restarted container starts again from zero. The operator remembers
the count it last saw per pod and container restart (the baselines) and adds only what
is new. After an operator restart nothing is remembered: a runtime's count is then taken
as the baseline without being added when the status already holds a total (the requests
served between the last status write and the restart are not counted, rather than
counting some twice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modeldeploy.operator.planners.observed import PodView, RuntimeReport

Baselines = Mapping[str, tuple[int, int]]
"""pod name → (container restarts, requests counted)."""


@dataclass(frozen=True)
class Tally:
    requests: int
    last_used: str | None
    baselines: dict[str, tuple[int, int]]
    new: int
    """Requests added by this tally (0 when nothing was served since the last one)."""


def tally(
    *,
    total: int,
    last_used: str | None,
    baselines: Baselines | None,
    replicas: Sequence[tuple[PodView, RuntimeReport]],
) -> Tally:
    """The new total from the replicas' reports (`baselines` None: first look since the
    operator started)."""
    seen: dict[str, tuple[int, int]] = {}
    added = 0
    latest = last_used
    for pod, report in replicas:
        if not report.reachable or report.requests is None:
            if baselines and pod.name in baselines:
                seen[pod.name] = baselines[pod.name]
            continue
        count = report.requests
        before = (baselines or {}).get(pod.name)
        if before is None:
            fresh = baselines is not None or total == 0
            added += count if fresh else 0
        elif before[0] != pod.restarts or count < before[1]:
            added += count  # a new runtime process: everything it counted is new
        else:
            added += count - before[1]
        seen[pod.name] = (pod.restarts, count)
        if report.last_request_at and (latest is None or report.last_request_at > latest):
            latest = report.last_request_at
    return Tally(total + added, latest, seen, added)
