"""What the ModelDeployments want of each ModelCache, as their last reconciles said.

The two reconcile loops meet here. A ModelDeployment that names a cache reports which
model directory it wants fetched, which directories it mounts or is about to mount, and
the requests its runtimes served; the ModelCache loop reads that to plan its Jobs and
status. Each side wakes the other when what it wrote changed.

In memory only: after a restart every ModelDeployment reconciles (and reports) before
its cache may remove anything (`Use.complete`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from modeldeploy.operator.indexes import Key
from modeldeploy.operator.planners.cache import Use, Want


@dataclass(frozen=True)
class Report:
    """One ModelDeployment's report to the cache it names: what it wants and mounts."""

    cache: str
    wants: tuple[Want, ...] = ()
    in_use: frozenset[str] = frozenset()


@dataclass
class CacheBook:
    """Reports by ModelDeployment; the clean-up Job running per cache, if any."""

    wake_cache: Callable[[Key], None] = field(default=lambda key: None)
    wake_deployment: Callable[[Key], None] = field(default=lambda key: None)
    _reports: dict[Key, Report] = field(default_factory=dict)
    _by_cache: dict[Key, set[Key]] = field(default_factory=dict)
    """cache → the deployments whose last report names it (no scan of every report)."""
    _cleanup_keeps: dict[Key, frozenset[str]] = field(default_factory=dict)
    _looked_at: set[Key] = field(default_factory=set)
    _served: dict[Key, dict[str, tuple[int, str | None]]] = field(default_factory=dict)
    """Per cache and directory: requests served since the cache last took them, and when
    the last one was (recorded without waking the cache: its own cadence picks them up)."""

    def report(self, deployment: Key, report: Report | None) -> None:
        """Record what `deployment` wants (None: it names no cache any more)."""
        before = self._reports.get(deployment)
        if before is not None:
            self._by_cache.get((deployment[0], before.cache), set()).discard(deployment)
        if report is None:
            self._reports.pop(deployment, None)
        else:
            self._reports[deployment] = report
            self._by_cache.setdefault((deployment[0], report.cache), set()).add(deployment)
        if before != report:
            for cache in {r.cache for r in (before, report) if r is not None}:
                self.wake_cache((deployment[0], cache))

    def served(self, cache: Key, directory: str, *, requests: int, last_used: str | None) -> None:
        """`requests` more were served from `directory` (a delta; last one at `last_used`)."""
        if requests <= 0 and last_used is None:
            return
        counts = self._served.setdefault(cache, {})
        before, when = counts.get(directory, (0, None))
        latest = max(w for w in (when, last_used) if w) if (when or last_used) else None
        counts[directory] = (before + max(requests, 0), latest)

    def deployments_of(self, cache: Key) -> list[Key]:
        return sorted(self._by_cache.get(cache, ()))

    def wake_users_of(self, cache: Key, directories: set[str]) -> None:
        """Wake the deployments that want or use one of `directories` of `cache` (what the
        cache says of those changed); the others have nothing new to read."""
        for deployment in self.deployments_of(cache):
            report = self._reports[deployment]
            mine = report.in_use | {w.directory for w in report.wants}
            if mine & directories:
                self.wake_deployment(deployment)

    def wants(self, cache: Key) -> list[Want]:
        return [w for k in self.deployments_of(cache) for w in self._reports[k].wants]

    def use(self, cache: Key, *, referencing: Iterable[str]) -> Use:
        """Who uses what in `cache`, and the requests served since the last call (taken:
        the caller adds them to the totals it writes); complete only when every deployment
        that names it (`referencing`, from the watched objects) has reported."""
        in_use: dict[str, set[str]] = {}
        reported = set()
        for key in self.deployments_of(cache):
            report = self._reports[key]
            reported.add(key[1])
            for directory in report.in_use:
                in_use.setdefault(directory, set()).add(key[1])
        served = self._served.pop(cache, {})  # taken: the cache adds them to its totals
        requests = {d: count for d, (count, _) in served.items() if count}
        last_used = {d: when for d, (_, when) in served.items() if when}
        return Use(
            in_use={d: frozenset(users) for d, users in in_use.items()},
            requests=requests,
            last_used=last_used,
            complete=set(referencing) <= reported,
        )

    def set_cleanup(self, cache: Key, keep: frozenset[str] | None) -> None:
        """REPO@COMMIT a running clean-up Job keeps (None: none runs). A deployment must not
        start mounting a model outside that set until the Job has ended."""
        before = self._cleanup_keeps.get(cache)
        first = cache not in self._looked_at
        self._looked_at.add(cache)
        if keep is None:
            self._cleanup_keeps.pop(cache, None)
        else:
            self._cleanup_keeps[cache] = keep
        if (first or before is not None) and keep is None:
            for deployment in self.deployments_of(cache):
                self.wake_deployment(deployment)

    def may_mount(self, cache: Key, model: str) -> bool:
        """Whether a deployment may start mounting `model` (REPO@COMMIT) now: not before the
        cache's first reconcile since the operator started (a clean-up Job may be running),
        nor while a clean-up Job that does not keep it runs."""
        if cache not in self._looked_at:
            return False
        keep = self._cleanup_keeps.get(cache)
        return keep is None or model in keep

    def forget_cache(self, cache: Key) -> None:
        self._cleanup_keeps.pop(cache, None)
        self._looked_at.discard(cache)
