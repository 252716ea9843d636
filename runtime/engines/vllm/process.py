"""The vLLM engine's child process: how it is started, what it prints, how it is stopped.

It is started in a session of its own, so its whole process group (the API server, the engine
core, any workers) can be signalled at once and nothing outlives the runtime. Its output goes
to the runtime's log, line by line with an `[engine]` prefix, and the last `TAIL_LINES` are kept
for the failure message; every line is also handed to a listener (the load events).

The interpreter is vLLM's own environment (locked apart from the runtime's, see
requirements/vllm/): `MODELDEPLOY_VLLM_PYTHON`, else `/opt/vllm/bin/python` (the images),
else this interpreter when it can import vLLM.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from modeldeploy.runtime.engines.vllm import events

log = logging.getLogger("modeldeploy.runtime.engine")

PYTHON_ENV = "MODELDEPLOY_VLLM_PYTHON"
IMAGE_PYTHON = Path("/opt/vllm/bin/python")
TAIL_LINES = 40
STOP_GRACE_SECONDS = 20.0

# Variables the engine never gets: it reads the verified directory and reaches no hub.
WITHHELD_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_ENABLE_HF_TRANSFER")
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}


class NoInterpreterError(Exception):
    """No Python with vLLM installed was found."""


def find_python() -> Path:
    configured = os.environ.get(PYTHON_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise NoInterpreterError(f"{PYTHON_ENV}={configured}: no such file")
        return path
    if IMAGE_PYTHON.is_file():
        return IMAGE_PYTHON
    if importlib.util.find_spec("vllm") is not None:
        return Path(sys.executable)
    raise NoInterpreterError(
        f"vLLM is not installed: set {PYTHON_ENV} to the Python of an environment that has it "
        f"(hack/venv.sh --vllm builds one), or use the vLLM image"
    )


def engine_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for name in WITHHELD_ENV:
        env.pop(name, None)
    env.update(OFFLINE_ENV)
    return env


class EngineProcess:
    """One started engine. `on_line` is called on the reader thread for every output line."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str], on_line: Callable[[str], None]):
        self.argv = tuple(argv)
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.causes: list[str] = []  # the first exception lines it printed (root causes)
        self.stopping = threading.Event()
        self._on_line = on_line
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stop() signals all of it
        )
        self.pid = self._proc.pid
        self.started = time.monotonic()
        self._reader = threading.Thread(target=self._read, name="engine-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if not line:
                continue
            self.tail.append(line)
            if len(self.causes) < events.CAUSE_LINES and events.is_cause(line):
                self.causes.append(line)
            print(f"[engine] {line}", file=sys.stderr, flush=True)
            try:
                self._on_line(line)
            except Exception:  # a listener's bug must not stop the log
                log.exception("engine output listener failed on %r", line)

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def output_done(self, timeout: float = 2.0) -> None:
        """Wait (briefly) until its last output line was read: the failure message needs it."""
        self._reader.join(timeout)

    def reap(self) -> int | None:
        """After the leader ended by itself: kill what is left of its group (an engine core
        or worker without its server serves nobody, and holds the output pipe open), then
        read its last lines. Returns the leader's exit code."""
        code = self.wait(0)
        self._signal_group(signal.SIGKILL)
        self.output_done()
        return code

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int | None:
        """SIGTERM the process group, SIGKILL what is left after `grace`; wait for all of it."""
        self.stopping.set()
        self._signal_group(signal.SIGTERM)
        code = self.wait(grace)
        if code is None:
            log.warning("the engine did not stop within %.0f s of SIGTERM: killing it", grace)
        deadline = time.monotonic() + grace
        while group_members(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # its children leave after it (the engine core shuts down too)
        if group_members(self.pid):
            self._signal_group(signal.SIGKILL)
        code = self.wait(5.0)
        deadline = time.monotonic() + 5.0
        while group_members(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.output_done()
        return code

    def kill(self) -> None:
        self.stopping.set()
        self._signal_group(signal.SIGKILL)
        self.wait(5.0)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members
