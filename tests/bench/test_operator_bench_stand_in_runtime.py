"""bench/bench_operator.py answers /status for kwok's runtime pods: the operator must read
that answer as it reads a real runtime's (Ready, with a usage count), or the bench's usage
gathering measures nothing. Idle, the count stays put; with traffic it grows."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from modeldeploy.operator.planners.observed import RuntimeReport
from tests.e2e.helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]

# bench/ is not installed (see test_missed_goal_fails_the_bench.py): load the script by path.
_spec = importlib.util.spec_from_file_location(
    "bench_operator", REPO_ROOT / "bench" / "bench_operator.py"
)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)

COMMIT = "c0ffee" * 6 + "c0ff"


def _status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
        return dict(json.loads(response.read()))


def test_the_stand_in_reads_as_a_ready_runtime_whose_usage_grows_only_with_traffic() -> None:
    runtimes = bench.Runtimes(COMMIT)
    port = free_port()
    runtimes.serve("127.0.0.1", port, base=10)
    try:
        idle = [RuntimeReport.from_json(_status(port)) for _ in range(2)]
        runtimes.traffic(rate=1000.0)
        time.sleep(0.05)
        busy = RuntimeReport.from_json(_status(port))
    finally:
        runtimes.close()
    assert all(r.reachable and r.state == "Ready" and r.commit == COMMIT for r in idle)
    assert [r.requests for r in idle] == [10, 10]
    assert busy.requests is not None and busy.requests > 10
    assert busy.last_request_at is not None
    assert runtimes.asked == 3
