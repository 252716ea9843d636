"""`GET /metrics`: Prometheus exposition, names prefixed `modeldeploy_`.

One registry per runtime (not the global default) so two apps in one test process never
share counters. State, progress and phase durations follow the state machine through a
subscriber; request counts and latency come from a middleware that skips probe, status and
metrics paths (kubelet polling every few seconds would otherwise drown the real traffic).
"""

from __future__ import annotations

import time
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
        self.on_change(ctx.machine.snapshot())
        ctx.machine.subscribe(self.on_change)

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

    def attach(self, app: web.Application) -> None:
        async def metrics(_request: web.Request) -> web.Response:
            self.refresh()
            body = generate_latest(self.registry)
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
