"""A ModelDeployment on a ModelCache: what it marks in use, when it may mount, what it
serves while the cache's copy is bad, and the requests it counts — pure, no cluster."""

from __future__ import annotations

from typing import Any

from modeldeploy.operator.api.spec import ModelDeploymentSpec, ModelSource
from modeldeploy.operator.api.status import CachedModelState
from modeldeploy.operator.planners import cache, shared, usage, workload
from modeldeploy.operator.planners.observed import PodView, RuntimeReport
from tests.operator.unit.builders import COMMIT_A, COMMIT_B, spec

SPEC = spec(cache={"name": "shared"})
DIR_A = cache.model_directory(SPEC.model, COMMIT_A)
DIR_B = cache.model_directory(SPEC.model, COMMIT_B)


def _cache(*models: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "shared"}, "spec": {}, "status": {"models": list(models)}}


def _use(cache_body: dict[str, Any] | None, **kw: Any) -> shared.Use:
    args: dict[str, Any] = {
        "deployment": "chat",
        "cache": cache_body,
        "commit": COMMIT_B,
        "deployed_commit": COMMIT_A,
        "previous_serving": COMMIT_A,
        "pod_revisions": {COMMIT_A[:12]},
        "may_mount": lambda target: True,
    }
    args.update(kw)
    return shared.plan_use(SPEC, **args)


def test_it_marks_what_it_serves_and_what_it_is_about_to_mount() -> None:
    use = _use(_cache())
    assert use.in_use == {DIR_A, DIR_B}
    [want] = use.wants
    assert (want.directory, want.commit, want.requester) == (DIR_B, COMMIT_B, "mdep/chat")


def test_it_mounts_only_a_verified_directory() -> None:
    fetching = _use(_cache({"name": DIR_B, "state": "Fetching", "bytesDone": 5, "bytesTotal": 9}))
    assert COMMIT_B not in fetching.fetched
    assert fetching.fetch is not None and fetching.fetch.active
    assert fetching.fetch.progress == {
        "event": "progress", "phase": "downloading", "bytesDone": 5, "bytesTotal": 9
    }  # fmt: skip
    verified = _use(
        _cache({"name": DIR_B, "state": "Verified", "verifiedAt": "2026-12-06T10:00:00Z"})
    )
    assert COMMIT_B in verified.fetched and verified.status.state is CachedModelState.VERIFIED
    assert verified.fetch is not None and verified.fetch.succeeded


def test_it_waits_while_a_clean_up_that_may_remove_the_directory_runs() -> None:
    use = _use(_cache({"name": DIR_B, "state": "Verified"}), may_mount=lambda target: False)
    assert COMMIT_B not in use.fetched


def test_a_corrupted_copy_keeps_serving_replicas_but_starts_none() -> None:
    body = _cache(
        {"name": DIR_A, "state": "Corrupted", "badFiles": ["model.safetensors: sha256 mismatch"]},
        {"name": DIR_B, "state": "Corrupted", "badFiles": ["config.json: missing"]},
    )
    use = _use(body)
    assert use.fetched == {COMMIT_A}  # the deployed commit keeps its replicas, B never starts
    assert use.status.state is CachedModelState.CORRUPTED
    assert "config.json: missing" in (use.status.message or "")


def test_a_missing_cache_is_named() -> None:
    use = _use(None)
    assert use.missing and use.fetched == frozenset()
    assert "does not exist" in (use.status.message or "")


def test_replicas_mount_the_caches_claim_and_serve_the_shared_directory() -> None:
    args = workload.serve_args(SPEC, name="chat", commit=COMMIT_A, endpoint=None)
    assert args[args.index("--model-dir") + 1] == f"/cache/{DIR_A}"
    assert "--repo" not in args
    volumes, mounts = workload._volumes(SPEC, workload.naming.Names("chat", "ns"), commit=COMMIT_A)
    assert volumes[0]["persistentVolumeClaim"] == {"claimName": "mc-shared", "readOnly": True}
    # Only its own directory: the volume holds models fetched with other deployments' tokens.
    assert mounts[0] == {
        "name": "cache", "mountPath": f"/cache/{DIR_A}", "subPath": DIR_A, "readOnly": True
    }  # fmt: skip


def _report(requests: int | None, last: str | None = None) -> RuntimeReport:
    return RuntimeReport(reachable=True, state="Ready", requests=requests, last_request_at=last)


def test_requests_add_up_across_runtime_restarts() -> None:
    pod = PodView(name="p1", restarts=0)
    first = usage.tally(total=0, last_used=None, baselines=None, replicas=[(pod, _report(5, "t1"))])
    assert (first.requests, first.last_used) == (5, "t1")
    more = usage.tally(
        total=first.requests, last_used=first.last_used, baselines=first.baselines,
        replicas=[(pod, _report(8, "t2"))],
    )  # fmt: skip
    assert more.requests == 8
    restarted = PodView(name="p1", restarts=1)
    after = usage.tally(
        total=more.requests, last_used=more.last_used, baselines=more.baselines,
        replicas=[(restarted, _report(2, "t3"))],
    )  # fmt: skip
    assert (after.requests, after.last_used) == (10, "t3")


def test_after_an_operator_restart_counts_already_in_status_are_not_added_twice() -> None:
    pod = PodView(name="p1")
    again = usage.tally(total=40, last_used="t0", baselines=None, replicas=[(pod, _report(40))])
    assert again.requests == 40
    newcomer = usage.tally(
        total=40, last_used="t0", baselines=again.baselines,
        replicas=[(pod, _report(41)), (PodView(name="p2"), _report(3))],
    )  # fmt: skip
    assert newcomer.requests == 44


def test_a_download_the_cache_cannot_hold_fails_the_fetch_with_the_numbers() -> None:
    body = _cache()
    body["status"]["pending"] = [
        {"name": DIR_B, "repo": "acme/tiny", "commit": COMMIT_B, "bytesNeeded": 5,
         "reason": "InsufficientCacheSpace", "message": "needs at least 5 more bytes; 1 of 9"}
    ]  # fmt: skip
    use = _use(body, bytes_needed=5)
    assert use.wants[0].bytes_needed == 5
    assert use.fetch is not None and use.fetch.failed_finally
    assert use.fetch.error == ("InsufficientCacheSpace", "needs at least 5 more bytes; 1 of 9")


def test_nothing_is_mounted_before_the_cache_was_looked_at_since_the_operator_started() -> None:
    from modeldeploy.operator.cache_book import CacheBook

    book = CacheBook()
    key = ("ns", "shared")
    assert not book.may_mount(key, f"acme/tiny@{COMMIT_A}")  # a clean-up may be running
    book.set_cleanup(key, frozenset({f"acme/tiny@{COMMIT_A}"}))
    assert book.may_mount(key, f"acme/tiny@{COMMIT_A}")
    assert not book.may_mount(key, f"acme/tiny@{COMMIT_B}")  # that clean-up may remove it
    book.set_cleanup(key, None)
    assert book.may_mount(key, f"acme/tiny@{COMMIT_B}")


def test_the_directory_of_the_serving_fallback_stays_in_use_during_a_switch() -> None:
    target = ModelDeploymentSpec.model_validate(
        {"model": {"repo": "org/big"}, "cache": {"name": "shared"}}
    )
    serving = ModelSource(repo="org/small")
    use = shared.plan_use(
        target,
        deployment="chat",
        cache=None,
        commit="b" * 40,
        deployed_commit="a" * 40,
        previous_serving="a" * 40,
        pod_revisions={"a" * 12},
        may_mount=lambda _: True,
        serving_model=serving,
    )
    assert use.in_use == {
        cache.model_directory(target.model, "b" * 40),
        cache.model_directory(serving, "a" * 40),
    }
