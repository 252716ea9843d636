"""Fixtures and hooks shared by every test folder.

The local control plane is a session fixture: declared once here, so the cluster and
e2e suites (and the chart's RBAC test) share one cluster per pytest run instead of
starting one per folder.

Under CI a skip is a failure unless tests/support/skips.py allows its reason: the hook below is
the one place that applies it, to every skip (pytest.skip, skipif markers, fixtures).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import skips
from tests.support.cluster.fixtures import cluster, namespace, node_cluster

__all__ = ["cluster", "namespace", "node_cluster"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (report.skipped and skips.under_ci()) or hasattr(report, "wasxfail"):
        return
    reason = skips.reason_of(report.longrepr)
    if skips.allowed(reason):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI, which does not allow it: {reason}\n"
        "(a test that cannot run here fails in CI; the allowed skips are in tests/support/skips.py)"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if skips.under_ci():
        allowed = len(terminalreporter.stats.get("skipped", []))
        reasons = ", ".join(sorted(skips.ALLOWED))
        terminalreporter.write_line(f"CI: {allowed} allowed skips ({reasons}); any other failed")
