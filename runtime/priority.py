"""Let the event loop win the CPU: worker threads (loading, inference) run at a lower priority.

On Linux a thread's nice value is its own (setpriority on the thread id), and threads it
starts (torch's intra-op pool) inherit it. Inside a pod, where the container's CPU share is
fixed by its cgroup, this only decides who goes first *within* the runtime: a probe that
arrives while all cores are busy multiplying matrices is answered at once, and the loader
gets every cycle the event loop does not need. Off by default (`--worker-niceness 0`):
on a node shared with other busy processes the lower priority also cedes CPU to them, which
measurably slowed start-up on the 2-core development machine (time-to-Ready 24 s vs 14-17 s
for a 0.9 GB model, probe p99 60 vs 70-78 ms).
"""

from __future__ import annotations

import logging
import os
import threading

DEFAULT_WORKER_NICENESS = 0

log = logging.getLogger("modeldeploy.runtime")


def lower_current_thread(niceness: int = DEFAULT_WORKER_NICENESS) -> None:
    """Raise this thread's nice value by `niceness` (best effort; Linux semantics)."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + niceness))
    except OSError as exc:
        log.debug("cannot lower the priority of thread %d: %s", tid, exc)
