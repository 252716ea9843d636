"""Components started as processes, recorded by PID in the state dir and stopped by PID."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.support.cluster.errors import ClusterError

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks (/proc/PID/stat field 22), None if it is gone.

    Recorded with the PID so that `down` never signals an unrelated process that reused the PID;
    a zombie counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def alive(pid: int, ticks: int) -> bool:
    return _start_ticks(pid) == ticks


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the starting process dies (Linux prctl).

    So a test run killed outright (no fixture teardown) still leaves no component running.
    SIGKILL, not SIGTERM: etcd and the API server shut down gracefully and wait for each other,
    which after an abrupt end can take minutes; the run's data is throw-away anyway.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def launch(
    state: Path, name: str, argv: Sequence[str], *, die_with_parent: bool
) -> subprocess.Popen[bytes]:
    """Start one component in its own session, log to logs/NAME.log, record its PID.

    Its own session keeps a Ctrl-C in the terminal from reaching it (it is stopped by PID);
    `die_with_parent` is for runs owned by one process (pytest), not for `up`, which exits.
    """
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=state,
            preexec_fn=_die_with_parent if die_with_parent else None,  # noqa: PLW1509
        )  # fmt: skip
    pids = state / "pids"
    pids.mkdir(exist_ok=True)
    order = len(list(pids.glob("*.pid")))
    ticks = _start_ticks(proc.pid) or 0
    (pids / f"{order:02d}-{name}.pid").write_text(f"{proc.pid} {ticks}\n")
    return proc


def recorded_processes(state: Path) -> list[tuple[str, int, int]]:
    """(name, pid, start ticks) for every process this run started, in start order."""
    records = []
    for pid_file in sorted((state / "pids").glob("*.pid")):
        pid, ticks = (int(x) for x in pid_file.read_text().split())
        records.append((pid_file.stem.split("-", 1)[1], pid, ticks))
    return records


def stop_processes(state: Path, *, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop every recorded process, last started first: SIGTERM, then SIGKILL after timeout."""
    for _name, pid, ticks in reversed(recorded_processes(state)):
        _stop(pid, ticks, timeout)


def stop_named(state: Path, names: Sequence[str], *, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop the recorded processes called NAMES (every start of each), last started first."""
    for name, pid, ticks in reversed(recorded_processes(state)):
        if name in names:
            _stop(pid, ticks, timeout)


def _stop(pid: int, ticks: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(pid, ticks):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while alive(pid, ticks) and time.monotonic() < deadline:
            time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child (the pytest fixture's case), so
    no zombie outlives the run; children of an earlier `up` are reaped by init instead."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def log_tail(state: Path, name: str, lines: int = 15) -> str:
    path = state / "logs" / f"{name}.log"
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_for(
    what: str, ready: Callable[[], bool], *, state: Path,
    watch: dict[str, subprocess.Popen[bytes]], timeout: float = START_TIMEOUT_S,
) -> None:  # fmt: skip
    """Poll `ready` until true; fail fast, with the log, if a watched process exits meanwhile."""
    deadline = time.monotonic() + timeout
    while not ready():
        for name, proc in watch.items():
            if proc.poll() is not None:
                raise ClusterError(
                    f"{name} exited with {proc.returncode} while waiting for {what}; "
                    f"log {state}/logs/{name}.log:\n{log_tail(state, name)}"
                )
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def address_in_use(state: Path, name: str) -> bool:
    return "address already in use" in log_tail(state, name, lines=50).lower()


def start_listening(
    state: Path, name: str, argv_for: Callable[[list[int]], list[str]], *, ports: int,
    ready_for: Callable[[list[int]], Callable[[], bool]],
    watch: dict[str, subprocess.Popen[bytes]], die_with_parent: bool,
) -> list[int]:  # fmt: skip
    """Start a component on free ports; pick new ones if another run took them meanwhile."""
    for attempt in range(PORT_ATTEMPTS):
        chosen = [free_port() for _ in range(ports)]
        proc = launch(state, name, argv_for(chosen), die_with_parent=die_with_parent)
        try:
            wait_for(f"{name} on ports {chosen}", ready_for(chosen), state=state,
                     watch={**watch, name: proc})  # fmt: skip
        except ClusterError:
            # A failed attempt stays recorded by PID, so the caller's stop covers it too.
            if attempt + 1 < PORT_ATTEMPTS and address_in_use(state, name):
                continue
            raise
        watch[name] = proc
        return chosen
    raise AssertionError("unreachable")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def _decode_address(hex_address: str) -> tuple[str, int]:
    """/proc/net/tcp{,6} hold addresses as little-endian hex words: decode to (host, port)."""
    host_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(host_hex)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words), int(port_hex, 16)


def listening_addresses(pids: set[int]) -> set[tuple[str, int]]:
    """(host, port) of every TCP socket the given processes listen on (from /proc)."""
    inodes = set().union(*(_socket_inodes(pid) for pid in pids)) if pids else set()
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: TCP_LISTEN
                    found.add(_decode_address(fields[1]))
    return found
