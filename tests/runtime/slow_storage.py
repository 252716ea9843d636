"""Test double for slow storage (a network volume), installed inside a `serve` subprocess.

On this machine a model sits in the page cache and loads in milliseconds, too fast to watch
Loading from outside or to send SIGTERM in the middle of it. A real pod reads from a network
volume or a cold disk. This double stands in for that one thing: every `os.preadv` takes
`delay` seconds longer. The runtime reads each tensor's bytes with one `preadv` (see
`runtime/tensorfile.py`; nothing else in `serve` calls it), so each tensor read is slower
and the runtime code is unchanged. The double patches `os`, not the runtime module, so that
installing it imports nothing heavy: `serve` still listens before torch is imported.

Used via `servers.start(..., slow_storage=0.05)`, which runs
`python -c "<install the double>; modeldeploy serve ..."`.
"""

from __future__ import annotations

import os
import time
from typing import Any


def install(delay: float) -> None:
    original = os.preadv

    def slow_preadv(fd: int, buffers: Any, offset: int, flags: int = 0, /) -> int:
        time.sleep(delay)
        return original(fd, buffers, offset, flags)

    os.preadv = slow_preadv


LAUNCHER = """
import sys
sys.path.append({root!r})
from tests.runtime import slow_storage
slow_storage.install({delay!r})
from modeldeploy.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
