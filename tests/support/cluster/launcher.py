"""What every component start of one run shares: its state dir, binaries and watched processes."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.cluster import probes, processes

Watch = dict[str, subprocess.Popen[bytes]]


@dataclasses.dataclass
class Launcher:
    state: Path
    bin_dir: Path
    die_with_parent: bool
    watch: Watch = dataclasses.field(default_factory=dict)

    def start(
        self, name: str, argv_for: Callable[[list[int]], list[str]], *, ports: int,
        url_for: Callable[[list[int]], str], context: ssl.SSLContext,
    ) -> list[int]:  # fmt: skip
        """Start NAME on fresh ports and wait until url_for(ports) answers 200."""

        def ready(chosen: list[int]) -> Callable[[], bool]:
            url = url_for(chosen)
            return lambda: probes.https_ok(url, context)

        return processes.start_listening(
            self.state, name, argv_for, ports=ports, ready_for=ready, watch=self.watch,
            die_with_parent=self.die_with_parent,
        )  # fmt: skip

    def launch(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start NAME (no port to wait on) and watch it: the caller waits for its readiness."""
        proc = processes.launch(self.state, name, argv, die_with_parent=self.die_with_parent)
        self.watch[name] = proc
        return proc

    def wait_for(self, what: str, ready: Callable[[], bool], *, timeout: float = 90.0) -> None:
        processes.wait_for(what, ready, state=self.state, watch=self.watch, timeout=timeout)
