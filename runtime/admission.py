"""One admission step for every `/v1` serving request: the bound, the deadline, the hang-up.

- **Bound**: at most `--max-batch` requests run together and `--max-queue` more wait for a
  slot; one more is answered at once with 429 and a `Retry-After` estimated from how long
  requests have been taking here (a moving average) and how many are ahead. (Requests that
  arrive before Ready and wait for it are counted apart, by `waiting.ReadyQueue`.)
- **Deadline**: `--request-timeout` seconds from arrival to the last token, the wait for a
  slot included. Past it the job is cancelled and the client gets 504 (`timeout`); a stream,
  whose status line is already sent, gets the error as its last event.
- **Hang-up**: a client whose connection closed cancels its job: its connection is looked at
  with each token and at least every `HANG_UP_CHECK_SECONDS` while it waits (a stream also
  notices when a write fails). The scheduler drops a cancelled job at its next step and its
  slot goes to the next request.

Results cross from the scheduler's thread to the event loop through a `Channel` (each put is
scheduled on the loop, so the queue itself is only touched there).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from aiohttp import web

from modeldeploy.runtime import waiting
from modeldeploy.runtime.apierrors import ServingError, error
from modeldeploy.runtime.batching.jobs import EmbeddingJob, EmbeddingResult, GenerationJob, Update
from modeldeploy.runtime.context import RuntimeContext

if TYPE_CHECKING:  # torch-free at import: the vLLM bridge admits requests with it too
    from modeldeploy.runtime.batching.scheduler import Scheduler

HANG_UP_CHECK_SECONDS = 0.25
CLIENT_CLOSED = 499  # nginx's "client closed request": what the request metrics record
DURATION_SMOOTHING = 0.2  # weight of the newest request in the moving average

T = TypeVar("T")


class Channel(Generic[T]):
    """Items put from any thread, taken on the event loop that made the channel."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[T] = asyncio.Queue()

    def put(self, item: T) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    async def get(self) -> T:
        return await self._queue.get()


@dataclass
class Ticket:
    """One admitted request: when it came, when it must be done, its connection."""

    request: web.Request
    arrived: float  # time.monotonic()
    deadline: float | None

    def hung_up(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


class Admission:
    def __init__(
        self,
        ctx: RuntimeContext,
        fault: Callable[[BaseException], web.Response],
        *,
        running: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.fault = fault  # how a failure of the model or device is answered
        self.running = running or ctx.config.max_batch  # requests served at once at most
        self.held = 0  # admitted requests not yet answered
        self.mean_seconds: float | None = None  # moving average of a request's duration

    @property
    def limit(self) -> int:
        return self.running + self.ctx.config.max_queue

    def enter(self, request: web.Request) -> Ticket:
        """Admit a request or raise ServingError(429)."""
        if self.held >= self.limit:
            raise ServingError(self._busy())
        self.held += 1
        timeout = self.ctx.config.request_timeout
        now = time.monotonic()
        return Ticket(request, now, now + timeout if timeout > 0 else None)

    def leave(self, ticket: Ticket) -> None:
        self.held -= 1
        seconds = time.monotonic() - ticket.arrived
        mean = self.mean_seconds
        step = 0.0 if mean is None else DURATION_SMOOTHING * (seconds - mean)
        self.mean_seconds = seconds if mean is None else mean + step

    def _busy(self) -> web.Response:
        config, running = self.ctx.config, self.running
        ahead = max(1, self.held - running + 1)
        retry = 1 if self.mean_seconds is None else self.mean_seconds * ahead / running
        retry_after = max(1, math.ceil(retry))
        return error(
            429,
            f"the server is at capacity: {running} requests run and "
            f"{config.max_queue} wait (--max-batch, --max-queue); retry in {retry_after} s",
            "rate_limit_exceeded",
            headers={"Retry-After": str(retry_after)},
            code="queue_full",
            retryAfterSeconds=retry_after,
        )

    # -- following a job -------------------------------------------------------------------
    async def generate(
        self, ticket: Ticket, make: Callable[[Callable[[Update], None]], GenerationJob]
    ) -> AsyncGenerator[Update]:
        """Submit the job `make` builds around a delivery callback; yield its updates.
        Use with `contextlib.aclosing`: leaving early cancels the job."""
        channel: Channel[Update] = Channel()
        job = make(channel.put)
        job.arrived = ticket.arrived
        self._submit(job)
        finished = False
        try:
            while not finished:
                update = await self._next(ticket, job, channel)
                if update.error is not None:
                    finished = True
                    raise ServingError(self._answer(update.error))
                finished = update.finished
                yield update
        finally:
            if not finished:
                job.cancelled = True

    async def embed(self, ticket: Ticket, texts: tuple[str, ...]) -> EmbeddingResult:
        channel: Channel[EmbeddingResult | BaseException] = Channel()
        job = EmbeddingJob(texts, channel.put, arrived=ticket.arrived)
        self._submit(job)
        try:
            result = await self._next(ticket, job, channel)
        except BaseException:
            job.cancelled = True
            raise
        if isinstance(result, BaseException):
            raise ServingError(self._answer(result))
        return result

    def _submit(self, job: GenerationJob | EmbeddingJob) -> None:
        from modeldeploy.runtime.batching.scheduler import StoppedError

        scheduler = self._scheduler()
        try:
            scheduler.submit(job)
        except StoppedError as exc:
            raise ServingError(waiting.not_ready(self.ctx)) from exc

    def _scheduler(self) -> Scheduler:
        scheduler = self.ctx.scheduler
        if scheduler is None:
            raise ServingError(waiting.not_ready(self.ctx))
        return scheduler

    async def _next(
        self, ticket: Ticket, job: GenerationJob | EmbeddingJob, channel: Channel[T]
    ) -> T:
        """The job's next delivery; ServingError when the deadline passes or the client left."""
        while True:
            if ticket.hung_up():
                job.cancelled = True
                raise ServingError(
                    error(CLIENT_CLOSED, "the client closed the connection", "client_closed")
                )
            wait = HANG_UP_CHECK_SECONDS
            if ticket.deadline is not None:
                left = ticket.deadline - time.monotonic()
                if left <= 0:
                    job.cancelled = True
                    raise ServingError(self.timed_out())
                wait = min(wait, left)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    return await channel.get()

    def timed_out(self) -> web.Response:
        seconds = self.ctx.config.request_timeout
        return error(
            504,
            f"the request did not finish within {seconds:g} s (--request-timeout)",
            "timeout",
            code="request_timeout",
        )

    def _answer(self, exc: BaseException) -> web.Response:
        from modeldeploy.runtime.batching.scheduler import StoppedError

        if isinstance(exc, StoppedError):
            return waiting.not_ready(self.ctx)
        return self.fault(exc)
