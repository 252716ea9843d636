"""Test double for a slow link to the hub: a per-pod fetch that takes seconds at a steady rate.

On loopback the tiny model arrives in milliseconds, too fast to watch a download, its progress
bar or its ETA. A real pod fetches from a remote hub. This double stands in for that one
thing: the loopback hub (tests/support/hubserver) sends the file in small bursts with a pause
after each, through its ordinary `stall` fault set once per burst, so the bytes arrive at about
`bytes_per_second` and the fetcher, the runtime and the hub code stay unchanged.
"""

from __future__ import annotations

from pathlib import Path

from tests.support import tinymodels
from tests.support.hubserver import HubServer

REPO = "acme/tiny-lm"
WEIGHTS = "model.safetensors"
BURST_BYTES = 16 * 1024


def host(hub: HubServer, model_dir: Path, *, repo: str = REPO) -> str:
    """Host every file of `model_dir` as `repo`; return the commit."""
    files = {p.relative_to(model_dir).as_posix(): p for p in tinymodels.model_files(model_dir)}
    return hub.add_repo(repo, files)


def throttle(hub: HubServer, model_dir: Path, *, seconds: float, path: str = WEIGHTS) -> float:
    """Make the first download of `path` take about `seconds`; return its bytes per second."""
    size = (model_dir / path).stat().st_size
    rate = size / seconds
    for at_byte in range(BURST_BYTES, size, BURST_BYTES):
        hub.stall(path, at_byte=at_byte, seconds=BURST_BYTES / rate)
    return rate
