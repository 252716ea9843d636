"""The scheduler thread: continuous batching of generations, micro-batching of embeddings.

One thread owns the model: every forward pass runs here, none on the event loop. Its loop:

1. take new jobs from the inbox in arrival order, so that at most `max_batch` run at once
   (the others wait: the queue, whose length the HTTP side bounds, see `admission`): for
   generations, the next prefill group only — the jobs at the head of the queue whose
   left-padded prompts fit `prefill_budget` padded tokens (at least one); a job cancelled
   while it waited is dropped unseen; when nothing runs, a burst of requests is gathered
   first (below);
2. the group's prompts run together (one left-padded forward pass; one at a time until a
   first prefill showed the model's cache can be padded), each first token is picked and
   delivered at once (time to first token does not wait for the batch), and their caches
   join the batch;
3. one decode step for every running row, each token picked with that row's own sampling
   parameters and random generator, fed through that row's detokenizer (stop strings,
   max_tokens) and delivered; finished and cancelled rows leave the batch in the same step,
   freeing their slot for the next job.

So prefill passes and decode steps alternate: a burst of new prompts delays the running
streams' next token by one pass at a time, not by all of the burst, and the first group's
streams move on while the later groups are prefilled (chunked prefill, by prompt).

Gathering, when nothing runs: the scheduler waits while requests keep arriving, until none
came for `GATHER_SECONDS` or `GATHER_LIMIT_SECONDS` passed (a lone request waits 2 ms; a burst
sent at once is taken together instead of its first request running alone). Embedding jobs
run together (at most `max_batch` requests), in padded forward passes of at most
`EMBED_PASS_TEXTS` texts, so no request's size decides how much memory one pass takes; the
texts are sorted by length and cut where a pass would be more than `EMBED_PASS_WASTE` padding
(`embedding_passes`).

Why prefill passes are smaller on a CPU: a pass there is compute-bound from a few dozen
tokens on, so a bigger pass gains no throughput and only stalls the running streams longer.
Measured on 2 cores with a 1 GB float32 Llama, eight prompts of 15-22 tokens: one pass of 8
took 919 ms, two of 4 took 418 + 483 ms, four of 2 took 998 ms in all, eight alone 1411 ms.
`CPU_PREFILL_TOKENS_PER_THREAD` (256 tokens on 2 threads, ~1.3 s there) keeps a burst's
prompts together as long as a pass stalls the running streams for about a second at most. A
GPU pass is bounded only by its activations' memory (`PREFILL_TOKENS`).

Failures: an error in a forward pass fails every request in it (they shared it); a device
fault anywhere fails everything running and waiting, since the device is gone (the HTTP side
turns the error into 503 `device_fault` and moves the runtime to Failed). Non-finite logits
fail only the rows that have them.

Greedy decoding in a batch: padding changes the shapes of the matrix products, so rounding
may differ in the last bits from a request run alone; the token picked is the same unless
the two best logits are within that rounding of each other (the tests check exactly this).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

import torch

from modeldeploy.runtime import priority
from modeldeploy.runtime.batching import embedding_passes
from modeldeploy.runtime.batching.jobs import (
    EmbeddingJob,
    EmbeddingResult,
    GenerationJob,
    Job,
    Update,
)
from modeldeploy.runtime.batching.padded import PaddedBatch, TurnBatch, can_pad, select_rows
from modeldeploy.runtime.engine import NonFiniteOutputError, eos_ids, pick_token
from modeldeploy.runtime.faults import is_device_fault

if TYPE_CHECKING:
    from modeldeploy.runtime.engine import Engine

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.002  # how long the gathering waits for one more request
GATHER_LIMIT_SECONDS = 0.010  # the longest a burst of requests is gathered
PREFILL_TOKENS = 2048  # padded prompt tokens in one prefill pass (bounds its activations)
CPU_PREFILL_TOKENS_PER_THREAD = 128  # on a CPU, per torch thread (see the notes above)
EMBED_PASS_TEXTS = 64  # texts in one embedding pass: one request of 2,048 inputs runs in 32
EMBED_PASS_WASTE = 0.25  # the most of an embedding pass that may be padding (one text aside)


class Observer(Protocol):
    """What the serving metrics learn from the scheduler (called on its thread)."""

    def step(self, rows: int) -> None: ...

    def token(self, *, first: bool, seconds: float) -> None: ...


class StoppedError(RuntimeError):
    """The runtime stopped before this request finished."""


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int,
        niceness: int = 0,
        observer: Observer | None = None,
        prefill_tokens: int | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.observer = observer
        self._niceness = niceness
        self._cond = threading.Condition()
        self._inbox: deque[Job] = deque()
        self._stopping = False
        self._batch: PaddedBatch | TurnBatch | None = None  # the kind is known at a prefill
        self._stop_ids = frozenset(eos_ids(engine.loaded.model, engine.loaded.tokenizer))
        self.prefill_tokens = prefill_tokens or prefill_budget(engine.loaded.device)
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; fail what is left; wait for the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._stopping:
                raise StoppedError("the runtime is stopping")
            self._inbox.append(job)
            self._cond.notify()

    @property
    def waiting(self) -> int:
        """Jobs waiting for a slot in the batch."""
        return len(self._inbox)

    @property
    def running(self) -> int:
        return len(self._batch) if self._batch is not None else 0

    @property
    def batched(self) -> bool | None:
        """True when rows share forward passes (padded), False when they take turns, None
        before the first generation showed which."""
        return None if self._batch is None else isinstance(self._batch, PaddedBatch)

    # -- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        priority.lower_current_thread(self._niceness)
        with torch.inference_mode():
            while (new := self._take()) is not None:
                try:
                    self._turn(new)
                except Exception as exc:  # a bug here must not leave requests hanging
                    log.exception("the scheduler failed; failing every request it held")
                    for job in new:  # taken, maybe not yet in the batch
                        _deliver_error(job, exc)
                    with self._cond:
                        self._fail_everything(exc)

    def _turn(self, new: list[Job]) -> None:
        kind = EmbeddingJob if self.engine.task == "embeddings" else GenerationJob
        for job in new:
            if not isinstance(job, kind):
                _deliver_error(
                    job, TypeError(f"a {type(job).__name__} for a {kind.__name__} model")
                )
        if self.engine.task == "embeddings":
            self._embed([job for job in new if isinstance(job, EmbeddingJob)])
            return
        self._start([job for job in new if isinstance(job, GenerationJob)])
        if self.running:
            self._step()

    def _take(self) -> list[Job] | None:
        """New jobs to start (maybe none while a batch runs); None once stopped."""
        with self._cond:
            while not self._inbox and not self.running and not self._stopping:
                self._cond.wait()
            if self._stopping:
                self._fail_everything(StoppedError("the runtime stopped before this finished"))
                return None
            if not self.running:
                self._gather()
            if any(job.cancelled for job in self._inbox):
                self._inbox = deque(job for job in self._inbox if not job.cancelled)
            room = self.max_batch - self.running
            if self.engine.task == "embeddings":
                count = min(room, len(self._inbox))
            else:
                count = _group_size(self._inbox, room, self.prefill_tokens)
            return [self._inbox.popleft() for _ in range(count)]

    def _gather(self) -> None:
        """Let a burst of requests arrive together (called with the condition held): wait
        while they keep coming, until none came for `GATHER_SECONDS`, the batch is full or
        `GATHER_LIMIT_SECONDS` passed."""
        deadline = time.monotonic() + GATHER_LIMIT_SECONDS
        seen = -1
        while seen != len(self._inbox) and len(self._inbox) < self.max_batch:
            if self._stopping:
                return
            seen = len(self._inbox)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(min(GATHER_SECONDS, left))  # a submit wakes it early

    def _start(self, jobs: list[GenerationJob]) -> None:
        """Run a prefill group's prompts; each first token is delivered, the rest join the
        batch. Until a prefill has shown the cache's kind, prompts run one at a time."""
        for job in jobs:
            if job.params.seed is not None:
                device = self.engine.loaded.device
                job.generator = torch.Generator(device=device).manual_seed(job.params.seed)
        while jobs and not isinstance(self._batch, PaddedBatch):
            self._prefill_alone(jobs.pop(0))
        if jobs:
            self._prefill_together(jobs)

    def _prefill_alone(self, job: GenerationJob) -> None:
        try:
            logits, cache = self.engine.prefill(job.prompt)
            if not bool(torch.isfinite(logits).all()):
                raise NonFiniteOutputError("the model produced non-finite logits")
            token = pick_token(logits, job.params, job.generator)
        except Exception as exc:
            self._failed([job], exc)
            return
        self._observe_pass(1)
        if self._batch is None:  # the first prefill shows the cache's kind
            self._batch = PaddedBatch(self.engine) if can_pad(cache) else TurnBatch(self.engine)
        if self._emit(job, token):
            return
        if isinstance(self._batch, PaddedBatch):
            device = self.engine.loaded.device
            mask = torch.ones(1, job.prompt_length, dtype=torch.long, device=device)
            self._batch.join([job], cache, mask, [token])
        else:
            self._batch.add(job, cache, token)

    def _prefill_together(self, group: list[GenerationJob]) -> None:
        batch = self._batch
        assert isinstance(batch, PaddedBatch)
        try:
            logits, cache, mask = batch.prefill(group)
            finite = torch.isfinite(logits).all(dim=-1).tolist()
        except Exception as exc:
            self._failed(group, exc)
            return
        self._observe_pass(len(group))
        kept, tokens = self._pick_all(group, logits, finite)
        if not kept:
            return
        if len(kept) != len(group):
            mask = select_rows(cache, mask, kept)
        batch.join([group[i] for i in kept], cache, mask, tokens)

    def _step(self) -> None:
        batch = self._batch
        assert batch is not None
        rows = list(batch.rows)
        try:
            logits = batch.step()
            finite = torch.isfinite(logits).all(dim=-1).tolist()
        except Exception as exc:
            batch.keep([])
            self._failed(rows, exc)
            return
        self._observe_pass(len(rows))
        kept, tokens = self._pick_all(rows, logits, finite)
        if len(kept) != len(rows):
            batch.keep(kept)
        batch.advance(tokens)

    def _pick_all(
        self, jobs: list[GenerationJob], logits: torch.Tensor, finite: list[bool]
    ) -> tuple[list[int], list[int]]:
        """Pick and deliver each row's token: the rows still going, and their tokens."""
        kept, tokens = [], []
        for i, job in enumerate(jobs):
            if job.cancelled:
                continue
            if not finite[i]:
                self._failed([job], NonFiniteOutputError("the model produced non-finite logits"))
                continue
            token = pick_token(logits[i], job.params, job.generator)
            if not self._emit(job, token):
                kept.append(i)
                tokens.append(token)
        return kept, tokens

    def _observe_pass(self, rows: int) -> None:
        if self.observer is not None:
            self.observer.step(rows)

    def _emit(self, job: GenerationJob, token: int) -> bool:
        """Deliver one token's text; True when the job is finished."""
        now = time.monotonic()
        if job.observed and self.observer is not None:
            first = job.last_token_at is None
            self.observer.token(first=first, seconds=now - (job.last_token_at or job.arrived))
        job.last_token_at = now
        decoder = job.decoder
        text = decoder.add(token)
        stops = () if job.params.ignore_eos else self._stop_ids
        if token in stops or decoder.done:
            text += decoder.close()
            job.deliver(Update(text, 1, decoder.finish_reason))
            return True
        job.deliver(Update(text, 1))
        return False

    def _embed(self, jobs: list[EmbeddingJob]) -> None:
        jobs = [job for job in jobs if not job.cancelled]
        if not jobs:
            return
        texts = [text for job in jobs for text in job.texts]
        vectors: list[list[float]] = [[] for _ in texts]
        counts = [0] * len(texts)
        try:
            encoded = self.engine.encode_texts(texts)  # tokenized once, for the plan and passes
            lengths = [len(row["input_ids"]) for row in encoded]
            for indices in embedding_passes.plan(
                lengths, max_texts=EMBED_PASS_TEXTS, max_waste=EMBED_PASS_WASTE
            ):
                more, counted = self.engine.embed_counted(
                    [texts[i] for i in indices], [encoded[i] for i in indices]
                )
                for i, vector, count in zip(indices, more, counted, strict=True):
                    vectors[i], counts[i] = vector, count
        except Exception as exc:
            self._failed(jobs, exc)
            return
        self._observe_pass(len(jobs))
        start = 0
        for job in jobs:
            end = start + len(job.texts)
            job.deliver(EmbeddingResult(vectors[start:end], sum(counts[start:end])))
            start = end

    # -- failures --------------------------------------------------------------------------
    def _failed(self, jobs: list[GenerationJob] | list[EmbeddingJob], exc: BaseException) -> None:
        for job in jobs:
            _deliver_error(job, exc)
        if is_device_fault(exc):  # the device is gone: nothing else can run either
            with self._cond:
                self._fail_everything(exc)

    def _fail_everything(self, exc: BaseException) -> None:
        """Fail every waiting and running job (called with the condition held)."""
        jobs: list[Job] = [*self._inbox, *(self._batch.rows if self._batch else ())]
        self._inbox.clear()
        if self._batch is not None:
            self._batch.keep([])
        for job in jobs:
            _deliver_error(job, exc)


def _deliver_error(job: Job, exc: BaseException) -> None:
    if isinstance(job, GenerationJob):
        job.deliver(Update(error=exc))
    else:
        job.deliver(exc)


class Waiter:
    """Blocks a plain thread until a job it delivers to is finished (the warm-up uses it)."""

    def __init__(self) -> None:
        self.updates: list[Update] = []
        self.embedding: EmbeddingResult | None = None
        self._done = threading.Event()
        self._error: BaseException | None = None

    def update(self, update: Update) -> None:
        self.updates.append(update)
        if update.error is not None:
            self._error = update.error
        if update.finished:
            self._done.set()

    def embedded(self, result: EmbeddingResult | BaseException) -> None:
        if isinstance(result, BaseException):
            self._error = result
        else:
            self.embedding = result
        self._done.set()

    def wait(self, timeout: float | None = None) -> None:
        """Return when the job finished; raise its error."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"the job did not finish within {timeout} s")
        if self._error is not None:
            raise self._error


def prefill_budget(device: torch.device) -> int:
    """Padded prompt tokens in one prefill pass on `device` (see the module's notes)."""
    if device.type != "cpu":
        return PREFILL_TOKENS
    return min(PREFILL_TOKENS, CPU_PREFILL_TOKENS_PER_THREAD * max(1, torch.get_num_threads()))


def _group_size(queue: deque[Job], room: int, budget: int) -> int:
    """How many jobs at the head of `queue` make the next prefill group: as many as fit `room`
    and whose padded size (rows x longest prompt) fits `budget`; a prompt longer than the
    budget runs in a group of its own."""
    count, width = 0, 0
    for job in queue:
        if count == room or not isinstance(job, GenerationJob):
            return max(count, min(room, 1))  # another kind of job: alone, `_turn` refuses it
        width = max(width, job.prompt_length)
        if count and width * (count + 1) > budget:
            break
        count += 1
    return count
