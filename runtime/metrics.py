"""`GET /metrics`: Prometheus exposition, names prefixed `modeldeploy_`.

One registry per runtime (not the global default) so two apps in one test process never
share counters. State, progress and phase durations follow the state machine through a
subscriber; request counts and latency come from a middleware that skips probe, status and
metrics paths (kubelet polling every few seconds would otherwise drown the real traffic).
Serving figures come from the scheduler, which calls `step` and `token` on its thread
(prometheus_client's metrics are thread-safe): batch size per forward pass, time to first
token (from the request's arrival), inter-token latency, tokens generated; queue length and
running batch are read at scrape time, and tokens/s is the mean over the last
`RATE_WINDOW_SECONDS` whole seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from modeldeploy.runtime import health
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.state import Snapshot, State

PHASE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TOKEN_GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
RATE_WINDOW_SECONDS = 10
UNMETERED_PREFIXES = ("/metrics", "/status")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RuntimeMetrics:
    def __init__(self, ctx: RuntimeContext) -> None:
        self.ctx = ctx
        self.registry = registry = CollectorRegistry()
        self.state = Gauge(
            "modeldeploy_state", "1 for the runtime's current state", ["state"], registry=registry
        )
        self.progress = Gauge(
            "modeldeploy_progress_ratio", "Progress of the current phase (0-1)", registry=registry
        )
        self.phase_seconds = Histogram(
            "modeldeploy_phase_duration_seconds",
            "Time spent in each start-up phase",
            ["phase"],
            buckets=PHASE_BUCKETS,
            registry=registry,
        )
        self.bytes_loaded = Gauge(
            "modeldeploy_load_bytes", "Weight bytes loaded onto the device", registry=registry
        )
        self.bytes_total = Gauge(
            "modeldeploy_load_bytes_total_expected", "Weight bytes to load", registry=registry
        )
        self.warmup_latency = Gauge(
            "modeldeploy_warmup_latency_seconds", "Latency of the warm-up pass", registry=registry
        )
        self.warmup_rate = Gauge(
            "modeldeploy_warmup_tokens_per_second", "Tokens/s of the warm-up", registry=registry
        )
        self.requests = Counter(
            "modeldeploy_requests",
            "HTTP requests served (probes and metrics excluded)",
            ["method", "path", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "modeldeploy_request_duration_seconds",
            "HTTP request latency (probes and metrics excluded)",
            ["method", "path"],
            registry=registry,
        )
        self.tokens = Counter(
            "modeldeploy_generated_tokens", "Completion tokens generated", registry=registry
        )
        self.token_rate = Gauge(
            "modeldeploy_generated_tokens_per_second",
            f"Completion tokens per second over the last {RATE_WINDOW_SECONDS} s",
            registry=registry,
        )
        self.first_token = Histogram(
            "modeldeploy_time_to_first_token_seconds",
            "From a request's arrival to its first generated token",
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self.token_gap = Histogram(
            "modeldeploy_inter_token_latency_seconds",
            "Between two tokens of one request",
            buckets=TOKEN_GAP_BUCKETS,
            registry=registry,
        )
        self.batch_rows = Histogram(
            "modeldeploy_batch_size",
            "Requests in each forward pass of the scheduler (decode step or embedding pass)",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.running = Gauge(
            "modeldeploy_requests_running", "Requests in the running batch", registry=registry
        )
        self.queued = Gauge(
            "modeldeploy_queue_length",
            "Requests waiting for a slot in the batch (--max-queue bounds them)",
            registry=registry,
        )
        self.device_memory = Gauge(
            "modeldeploy_device_memory_used_bytes",
            "Memory in use on the device: CUDA allocated bytes, or model bytes on CPU",
            ["device"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "modeldeploy_requests_in_flight", "Requests being served", registry=registry
        )
        self.waiting = Gauge(
            "modeldeploy_requests_waiting_for_ready",
            "Requests waiting for the model to be ready (--queue-while-loading)",
            registry=registry,
        )
        self._last_phase: State | None = None
        self._seconds: deque[list[int]] = deque(maxlen=RATE_WINDOW_SECONDS + 2)  # [second, n]
        self._seconds_lock = threading.Lock()
        self.on_change(ctx.machine.snapshot())
        ctx.machine.subscribe(self.on_change)
        ctx.serving_observer = self
        if ctx.scheduler is not None:  # loaded before this app was built (in-process tests)
            ctx.scheduler.observer = self

    # -- the scheduler's observer (its thread) ----------------------------------------------
    def step(self, rows: int) -> None:
        self.batch_rows.observe(rows)

    def token(self, *, first: bool, seconds: float) -> None:
        self.tokens.inc()
        (self.first_token if first else self.token_gap).observe(seconds)
        second = int(time.monotonic())
        with self._seconds_lock:
            if self._seconds and self._seconds[-1][0] == second:
                self._seconds[-1][1] += 1
            else:
                self._seconds.append([second, 1])

    def _token_rate(self) -> float:
        now = int(time.monotonic())
        since = now - RATE_WINDOW_SECONDS
        with self._seconds_lock:
            counted = sum(n for second, n in self._seconds if since <= second < now)
        return counted / RATE_WINDOW_SECONDS

    def on_change(self, snap: Snapshot) -> None:
        for state in State:
            self.state.labels(state=state.value).set(1 if state is snap.state else 0)
        self.progress.set(snap.progress)
        if snap.state is not self._last_phase:
            self._observe_finished_phase(snap)
            self._last_phase = snap.state

    def _observe_finished_phase(self, snap: Snapshot) -> None:
        if len(snap.history) < 2:
            return
        left, entered = snap.history[-2], snap.history[-1]
        self.phase_seconds.labels(phase=left.state.value).observe(
            entered.monotonic - left.monotonic
        )

    def refresh(self) -> None:
        """Values read at scrape time (cheap; called by the /metrics handler)."""
        info = self.ctx.info
        self.bytes_loaded.set(info.bytes_loaded)
        self.bytes_total.set(info.bytes_total)
        self.in_flight.set(self.ctx.in_flight)
        self.waiting.set(self.ctx.waiting)
        if info.warmup is not None:
            self.warmup_latency.set(info.warmup.latency_seconds)
            self.warmup_rate.set(info.warmup.tokens_per_second)
        self.token_rate.set(self._token_rate())
        scheduler = self.ctx.scheduler
        if self.ctx.vllm is not None:  # relayed to the engine, not yet answered (it queues too)
            self.running.set(self.ctx.in_flight)
            self.queued.set(0)
        else:
            self.running.set(scheduler.running if scheduler is not None else 0)
            self.queued.set(scheduler.waiting if scheduler is not None else 0)
        engine = self.ctx.engine
        if engine is not None and engine.loaded.model is not None:
            device = engine.loaded.device
            self.device_memory.labels(device=str(device)).set(_memory_in_use(engine.loaded))

    def middleware(self) -> Middleware:
        @web.middleware
        async def meter(request: web.Request, handler: Handler) -> web.StreamResponse:
            path = request.path
            if health.is_probe(path) or path.startswith(UNMETERED_PREFIXES):
                return await handler(request)
            route = request.match_info.route.resource
            label = route.canonical if route is not None else "unmatched"
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                self.requests.labels(request.method, label, str(status)).inc()
                self.latency.labels(request.method, label).observe(time.perf_counter() - started)

        return meter

    def attach(
        self, app: web.Application, *, engine: Callable[[], Awaitable[bytes]] | None = None
    ) -> None:
        """Serve /metrics; `engine` gives an engine process's own exposition to add."""

        async def metrics(_request: web.Request) -> web.Response:
            self.refresh()
            body = generate_latest(self.registry)
            if engine is not None:
                from modeldeploy.runtime.engines.vllm import exposition

                body = exposition.merge(body, await engine())
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.router.add_get("/metrics", metrics)


def _memory_in_use(loaded: object) -> float:
    import torch

    from modeldeploy.runtime.loader import LoadedModel

    assert isinstance(loaded, LoadedModel)
    if loaded.device.type == "cuda":
        return float(torch.cuda.memory_allocated(loaded.device))
    tensors = [*loaded.model.parameters(), *loaded.model.buffers()]
    return float(sum(t.numel() * t.element_size() for t in tensors))
