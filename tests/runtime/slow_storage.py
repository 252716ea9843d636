"""Test double for slow storage (a network volume), installed inside a `serve` subprocess.

On this machine a model sits in the page cache and loads in milliseconds, too fast to watch
Loading from outside or to send SIGTERM in the middle of it. A real pod reads from a network
volume or a cold disk. This double stands in for that one thing: every tensor read through
`safetensors.safe_open` takes `delay` seconds longer. The runtime code is unchanged.

Used via `servers.start(..., slow_storage=0.05)`, which runs
`python -c "<install the double>; modeldeploy serve ..."`.
"""

from __future__ import annotations

import time
from typing import Any


class SlowSafeOpen:
    """`safetensors.safe_open` whose handles sleep `delay` seconds before each tensor."""

    def __init__(self, original: Any, delay: float) -> None:
        self.original = original
        self.delay = delay

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _SlowHandle(self.original(*args, **kwargs), self.delay)


class _SlowHandle:
    def __init__(self, handle: Any, delay: float) -> None:
        self.handle = handle
        self.delay = delay

    def __enter__(self) -> _SlowHandle:
        self.handle.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.__exit__(*exc)

    def get_tensor(self, name: str) -> Any:
        time.sleep(self.delay)
        return self.handle.get_tensor(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


def install(delay: float) -> None:
    import safetensors

    safetensors.safe_open = SlowSafeOpen(safetensors.safe_open, delay)  # type: ignore[misc,assignment]


LAUNCHER = """
import sys
sys.path.append({root!r})
from tests.runtime import slow_storage
slow_storage.install({delay!r})
from modeldeploy.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
