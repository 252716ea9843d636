"""A loader thread that hits an exception nobody typed still ends in Failed with the reason, so
liveness turns 503 and Kubernetes restarts the pod instead of it sitting in Loading forever."""

from __future__ import annotations

import threading
from pathlib import Path

from modeldeploy.runtime import health, pipeline
from modeldeploy.runtime.config import RuntimeConfig
from modeldeploy.runtime.context import RuntimeContext
from modeldeploy.runtime.state import State


def test_an_illegal_transition_in_the_loader_fails_the_runtime(tiny_lm: Path) -> None:
    ctx = RuntimeContext(RuntimeConfig(model_dir=tiny_lm, device="cpu"))
    # A runtime bug: something moved the machine on behind the loader's back, so its next
    # step (-> Verifying) is no longer legal and raises IllegalTransitionError.
    ctx.machine.transition(State.LOADING, reason="TestMovedItAlready")
    loader = threading.Thread(target=pipeline.run, args=(ctx,))
    loader.start()
    loader.join(timeout=60)
    assert not loader.is_alive()
    snap = ctx.machine.snapshot()
    assert snap.state is State.FAILED and snap.error is not None
    assert snap.error.reason == "LoadFailed"
    assert "IllegalTransitionError" in snap.error.message
    assert str(tiny_lm) in snap.error.message
    assert health.liveness(ctx).status == 503
    assert health.readiness(ctx).status == 503
