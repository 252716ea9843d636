"""Per-pod fetch mode: download the repo into the model directory before loading.

Used when the operator configures no cache volume: `serve --repo R [--revision V]
[--endpoint URL] [--include GLOB]... [--sha256 PATH=HEX]...` and a directory without a
manifest of that repo and revision. The fetcher
does the work (resume, hashes, manifest written last); this module turns its progress events
into the Fetching → Verifying states and their progress on `/status`, and hands it the
SIGTERM event so a stopping pod does not finish a download first.
"""

from __future__ import annotations

import os
import threading

from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.errors import LoadCancelledError, LoadError
from modeldeploy.runtime.state import Reason, State


def fetch_into(ctx: RuntimeContext) -> None:
    from modeldeploy.hub import fetch, hubapi
    from modeldeploy.hub.errors import FetchError, FetchReason
    from modeldeploy.hub.progress import ProgressEvent

    config = ctx.config
    assert config.repo is not None
    lock = threading.Lock()  # the fetcher reports from several download threads

    def on_progress(event: ProgressEvent) -> None:
        with lock:
            if ctx.cancel.is_set() or event.phase == "done":
                return
            if event.phase == "verifying" and ctx.machine.state is State.FETCHING:
                ctx.machine.transition(State.VERIFYING, reason="FetcherVerifying")
            fraction = event.bytes_done / event.bytes_total if event.bytes_total else 0.0
            ctx.info.download = event.to_json()
            ctx.machine.raise_progress(min(fraction, 1.0), **_detail(event.to_json()))

    try:
        fetch.fetch(
            config.repo,
            config.model_dir,
            revision=config.revision,
            endpoint=hubapi.endpoint_or_default(config.endpoint),
            token=os.environ.get("HF_TOKEN") or None,
            allow_pickle=config.allow_pickle,
            include=config.include,
            pins=config.pins,
            on_progress=on_progress,
            cancel=ctx.cancel,
        )
    except FetchError as exc:
        if ctx.cancel.is_set() or exc.reason == FetchReason.Interrupted:
            raise LoadCancelledError() from exc
        raise LoadError(str(exc.reason), exc.message) from exc
    except OSError as exc:
        raise LoadError(Reason.FETCH_FAILED, f"{config.model_dir}: {exc}") from exc
    if ctx.cancel.is_set():
        raise LoadCancelledError()


def _detail(event: dict[str, object]) -> dict[str, object]:
    keys = ("bytesDone", "bytesTotal", "filesDone", "filesTotal", "bytesPerSecond", "etaSeconds")
    return {k: event[k] for k in keys if k in event}
