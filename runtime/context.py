"""Everything one runtime process knows, shared by the load pipeline and the HTTP routers.

The state machine says *where* the runtime is; this holds *what* it found on the way (device,
dtype, revision, timings, warm-up result, the engine and its scheduler once loaded), what it
has served (`usage`)
and the two signals that cross threads: `cancel` (SIGTERM reached the loader) and the
in-flight request count (the drain waits for it to reach zero). `eta` follows the state
machine to estimate the time until Ready; `waiting` counts the requests that wait for it
(`--queue-while-loading`; touched on the event loop only).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.eta import Estimate, Eta
from modeldeploy.runtime.state import Snapshot, State, StateMachine
from modeldeploy.runtime.usage import Usage

if TYPE_CHECKING:
    from modeldeploy.runtime.batching.scheduler import Observer, Scheduler
    from modeldeploy.runtime.engine import Engine
    from modeldeploy.runtime.engines.vllm.steps import EngineHandle
    from modeldeploy.runtime.warmup_result import WarmupResult


@dataclass
class ModelInfo:
    """Facts learnt while starting; read by /status (all optional until known)."""

    name: str
    directory: Path
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None
    verified: bool = False
    task: str | None = None
    architecture: str | None = None
    device: str | None = None
    dtype: str | None = None
    memory: dict[str, Any] | None = None
    bytes_total: int = 0
    bytes_loaded: int = 0
    download: dict[str, Any] | None = None
    warmup: WarmupResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RuntimeContext:
    def __init__(self, config: RuntimeConfig, *, machine: StateMachine | None = None) -> None:
        self.config = config
        self.machine = machine or StateMachine()
        self.cancel = threading.Event()
        # With --repo, the repo and revision asked for are known before the manifest says so
        # (it replaces them once verified): /status names what is being fetched.
        self.info = ModelInfo(
            name=config.model_name,
            directory=config.model_dir,
            repo=config.repo,
            revision=config.revision if config.repo else None,
        )
        self.engine: Engine | None = None
        self.scheduler: Scheduler | None = None  # steps every request (and the warm-up)
        self.serving_observer: Observer | None = None  # the metrics, set before loading
        self.vllm: EngineHandle | None = None  # `--engine vllm`: the engine's child process
        self.usage = Usage()
        self.eta = Eta(self.machine, config)
        self.waiting = 0
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)

    @property
    def served_names(self) -> tuple[str, ...]:
        names = [self.info.name]
        if self.info.repo and self.info.repo not in names:
            names.append(self.info.repo)
        return tuple(names)

    def estimate(self, snap: Snapshot | None = None) -> Estimate | None:
        """Time until Ready (None once Ready, Draining or Failed); see `eta`."""
        snap = snap or self.machine.snapshot()
        return self.eta.estimate(snap, weight_bytes=self.info.bytes_total)

    def serving_engine(self) -> Engine | None:
        """The engine, only while Ready (Draining finishes what it took, takes nothing new)."""
        return self.engine if self.machine.state is State.READY else None

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def wait_idle(self, timeout: float) -> bool:
        """Block until no request is in flight (True) or `timeout` passes (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)
