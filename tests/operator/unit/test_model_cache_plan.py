"""The ModelCache planner: one fetch per directory, suspension, schedules, repair, clean-up
and the status it writes — pure decisions, no cluster."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from modeldeploy.operator.api import cache as api
from modeldeploy.operator.api.spec import ModelSource
from modeldeploy.operator.planners import cache
from tests.operator.unit.builders import COMMIT_A, COMMIT_B

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CREATED = "2026-12-06T11:00:00Z"
TINY = ModelSource(repo="acme/tiny")
OTHER = ModelSource(repo="acme/other")


def _spec(**fields: Any) -> api.ModelCacheSpec:
    body: dict[str, Any] = {"storage": {"size": "10Gi"}}
    body.update(fields)
    return api.ModelCacheSpec.model_validate(body)


def _want(model: ModelSource, commit: str, who: str, *, suspended: bool = False) -> cache.Want:
    return cache.Want(cache.model_directory(model, commit), model, commit, who, suspended)


def _inputs(**overrides: Any) -> cache.CacheInputs:
    base = cache.CacheInputs(
        name="shared",
        namespace="ns",
        uid="uid-c",
        generation=1,
        created=CREATED,
        spec=_spec(),
        previous=api.ModelCacheStatus(),
        wants=[],
        use=cache.Use(),
        jobs=[],
        claim={"status": {"phase": "Bound", "capacity": {"storage": "10Gi"}}},
        image="img:1",
        endpoint_for=lambda endpoint: endpoint or "http://hub.local",
        storage_class=None,
        inventory_seconds=600.0,
        now=NOW,
    )
    return dataclasses.replace(base, **overrides)


def _jobs(plan: cache.CachePlan, task: str) -> list[dict[str, Any]]:
    return [
        o
        for o in plan.objects
        if o["kind"] == "Job" and o["metadata"]["annotations"][cache.ANNOTATION_TASK] == task
    ]


def _job_view(job: dict[str, Any], **status: Any) -> cache.JobView:
    return cache.JobView.from_job(
        {"metadata": job["metadata"], "status": status.pop("status", {})},
        last_line=status.pop("last_line", None),
    )


def _verified(model: ModelSource, commit: str, **fields: Any) -> api.CachedModel:
    return api.CachedModel(
        name=cache.model_directory(model, commit),
        repo=model.repo,
        commit=commit,
        bytes=fields.pop("bytes", 1000),
        files=2,
        state=fields.pop("state", api.CachedModelState.VERIFIED),
        verified_at=fields.pop("verified_at", "2026-12-06T11:30:00Z"),
        **fields,
    )


def test_deployments_wanting_the_same_directory_share_one_fetch_job() -> None:
    plan = cache.plan(
        _inputs(
            wants=[
                _want(TINY, COMMIT_A, "mdep/a"),
                _want(TINY, COMMIT_A, "mdep/b"),
                _want(OTHER, COMMIT_A, "mdep/c"),
            ]
        )
    )
    fetches = _jobs(plan, cache.TASK_FETCH)
    assert len(fetches) == 2  # one per directory: the two models are fetched side by side
    dests = sorted(j["spec"]["template"]["spec"]["containers"][0]["args"][3] for j in fetches)
    assert dests == sorted(f"/cache/{cache.model_directory(m, COMMIT_A)}" for m in (TINY, OTHER))
    claim = next(o for o in plan.objects if o["kind"] == "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "mc-shared"
    mounted = fetches[0]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]
    assert mounted == {"claimName": "mc-shared"}


def test_a_different_file_selection_is_a_different_directory() -> None:
    pinned = ModelSource(repo="acme/tiny", include=["*.safetensors"])
    fork = ModelSource(repo="someone/tiny")
    names = {cache.model_directory(m, COMMIT_A) for m in (TINY, pinned, fork)}
    assert len(names) == 3
    same = ModelSource(repo="acme/tiny", include=["*.json", "*.safetensors", "*.json"])
    again = ModelSource(repo="acme/tiny", include=["*.safetensors", "*.json"])
    assert cache.model_directory(same, COMMIT_A) == cache.model_directory(again, COMMIT_A)


def test_fetch_is_suspended_only_while_everyone_who_wants_it_is() -> None:
    both = [_want(TINY, COMMIT_A, "mdep/a", suspended=True), _want(TINY, COMMIT_A, "mdep/b")]
    assert _jobs(cache.plan(_inputs(wants=both)), cache.TASK_FETCH)[0]["spec"]["suspend"] is False
    paused = [_want(TINY, COMMIT_A, "mdep/a", suspended=True)]
    job = _jobs(cache.plan(_inputs(wants=paused)), cache.TASK_FETCH)[0]
    assert job["spec"]["suspend"] is True
    held = cache.plan(_inputs(wants=both, spec=_spec(suspend=True)))
    assert _jobs(held, cache.TASK_FETCH)[0]["spec"]["suspend"] is True


def test_a_verified_directory_is_not_fetched_again() -> None:
    previous = api.ModelCacheStatus(models=[_verified(TINY, COMMIT_A)])
    plan = cache.plan(_inputs(wants=[_want(TINY, COMMIT_A, "mdep/a")], previous=previous))
    assert _jobs(plan, cache.TASK_FETCH) == []
    [model] = plan.status.models
    assert model.state == api.CachedModelState.VERIFIED and model.used_by == ["a"]


def test_a_finished_fetch_is_verified_then_its_job_goes_after_the_status_says_so() -> None:
    wants = [_want(TINY, COMMIT_A, "mdep/a")]
    job = _jobs(cache.plan(_inputs(wants=wants)), cache.TASK_FETCH)[0]
    running = _job_view(
        job,
        status={"active": 1, "startTime": "2026-12-06T11:58:00Z"},
        last_line={"event": "progress", "bytesDone": 300, "bytesTotal": 1200},
    )
    plan = cache.plan(_inputs(wants=wants, jobs=[running]))
    [model] = plan.status.models
    assert model.state == api.CachedModelState.FETCHING
    assert (model.bytes_done, model.bytes_total) == (300, 1200)
    done = _job_view(
        job,
        status={
            "succeeded": 1,
            "completionTime": "2026-12-06T11:59:00Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
        last_line={"event": "done", "bytesTotal": 1200, "filesTotal": 3},
    )
    first = cache.plan(_inputs(wants=wants, jobs=[done], previous=plan.status))
    [model] = first.status.models
    assert model.state == api.CachedModelState.VERIFIED
    assert (model.bytes, model.files, model.verified_at) == (1200, 3, "2026-12-06T11:59:00Z")
    assert done.name not in first.delete_jobs  # the status that says so is not written yet
    second = cache.plan(_inputs(wants=wants, jobs=[done], previous=first.status))
    assert second.delete_jobs == [done.name]
    assert _jobs(second, cache.TASK_FETCH) == []


def test_a_fetch_nobody_wants_any_more_is_cancelled() -> None:
    job = _jobs(cache.plan(_inputs(wants=[_want(TINY, COMMIT_A, "mdep/a")])), cache.TASK_FETCH)[0]
    running = _job_view(job, status={"active": 1})
    plan = cache.plan(_inputs(wants=[], jobs=[running]))
    assert plan.delete_jobs == [running.name]


def test_verify_runs_every_period_and_not_while_suspended() -> None:
    previous = api.ModelCacheStatus(
        models=[_verified(TINY, COMMIT_A)], next_verify_at="2026-12-06T11:59:00Z",
        next_inventory_at="2026-12-06T13:00:00Z",
    )  # fmt: skip
    plan = cache.plan(_inputs(previous=previous, spec=_spec(verify={"every": "1h"})))
    [job] = _jobs(plan, cache.TASK_VERIFY)
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["cache", "verify", "/cache"] and "--json" in args
    assert plan.status.next_verify_at == "2026-12-06T13:00:00Z"
    later = previous.model_copy(update={"next_verify_at": "2026-12-06T12:30:00Z"})
    assert _jobs(cache.plan(_inputs(previous=later)), cache.TASK_VERIFY) == []
    paused = cache.plan(_inputs(previous=previous, spec=_spec(suspend=True)))
    assert [o for o in paused.objects if o["kind"] == "Job"] == []


def test_a_verify_report_marks_the_model_corrupted_and_names_the_file() -> None:
    name = cache.model_directory(TINY, COMMIT_A)
    report = {
        "verify": [{"name": name, "ok": False, "bad": ["model.safetensors: sha256 mismatch"]}],
        "inventory": {
            "scannedAt": "2026-12-06T11:59:30Z",
            "models": [
                {
                    "name": name,
                    "repo": "acme/tiny",
                    "commit": COMMIT_A,
                    "bytes": 1000,
                    "files": 2,
                    "state": "Corrupted",
                    "badFiles": ["model.safetensors: sha256 mismatch"],
                }
            ],
        },
    }
    job = {
        "metadata": {
            "name": "mc-shared-verify-1",
            "annotations": {cache.ANNOTATION_TASK: "verify"},
        },
        "status": {"succeeded": 1, "completionTime": "2026-12-06T11:59:40Z"},
    }
    view = cache.JobView.from_job(job, last_line=report)
    plan = cache.plan(
        _inputs(
            jobs=[view],
            wants=[_want(TINY, COMMIT_A, "mdep/a")],
            spec=_spec(verify={"repair": False}),
        )
    )
    [model] = plan.status.models
    assert model.state == api.CachedModelState.CORRUPTED
    degraded = next(c for c in plan.status.conditions if c.type == "Degraded")
    assert degraded.status == "True" and "model.safetensors: sha256 mismatch" in degraded.message
    assert any(e.reason == "ModelCorrupted" and name in e.message for e in plan.events)
    assert plan.status.last_verified == "2026-12-06T11:59:40Z"
    assert view.name in plan.delete_jobs
    assert _jobs(plan, cache.TASK_REPAIR) == []  # repair: false


def test_a_corrupted_model_is_repaired_with_the_token_of_who_wants_it() -> None:
    gated = ModelSource.model_validate(
        {"repo": "acme/tiny", "tokenSecretRef": {"name": "hf", "key": "token"}}
    )
    corrupted = _verified(
        gated, COMMIT_A, state=api.CachedModelState.CORRUPTED, bad_files=["a.safetensors: missing"]
    )
    previous = api.ModelCacheStatus(models=[corrupted], next_verify_at="2026-12-07T00:00:00Z")
    plan = cache.plan(_inputs(previous=previous, wants=[_want(gated, COMMIT_A, "mdep/a")]))
    [job] = _jobs(plan, cache.TASK_REPAIR)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:4] == ["verify", f"/cache/{corrupted.name}", "--repair", "--progress"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "hf", "key": "token"}
    running = _job_view(job, status={"active": 1})
    during = cache.plan(
        _inputs(previous=previous, jobs=[running], wants=[_want(gated, COMMIT_A, "mdep/a")])
    )
    assert during.status.models[0].state == api.CachedModelState.REPAIRING
    done = _job_view(job, status={"succeeded": 1, "completionTime": "2026-12-06T12:00:00Z"})
    after = cache.plan(_inputs(previous=during.status, jobs=[done]))
    assert after.status.models[0].state == api.CachedModelState.VERIFIED
    assert after.status.models[0].bad_files == []
    assert next(c for c in after.status.conditions if c.type == "Degraded").status == "False"


def test_no_clean_up_while_a_deployment_has_not_said_what_it_uses() -> None:
    old = _verified(TINY, COMMIT_A, verified_at="2026-01-01T00:00:00Z")
    previous = api.ModelCacheStatus(models=[old], next_verify_at="2026-12-07T00:00:00Z")
    unknown = cache.plan(_inputs(previous=previous, use=cache.Use(complete=False)))
    assert _jobs(unknown, cache.TASK_GC) == []
    known = cache.plan(_inputs(previous=previous))
    [job] = _jobs(known, cache.TASK_GC)
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:5] == ["cache", "gc", "/cache", "--max-unused-for", "168h"]


def test_the_clean_up_keeps_what_is_used_and_wanted_and_records_usage() -> None:
    serving = _verified(TINY, COMMIT_A)
    previous = api.ModelCacheStatus(models=[serving], next_verify_at="2026-12-07T00:00:00Z")
    use = cache.Use(
        in_use={serving.name: frozenset({"a"})},
        requests={serving.name: 42},
        last_used={serving.name: "2026-12-06T11:50:00Z"},
    )
    plan = cache.plan(
        _inputs(
            previous=previous,
            use=use,
            wants=[_want(TINY, COMMIT_B, "mdep/a"), _want(OTHER, COMMIT_B, "preload")],
        )
    )
    [gc] = _jobs(plan, cache.TASK_GC)
    args = gc["spec"]["template"]["spec"]["containers"][0]["args"]
    keeps = [args[i + 1] for i, a in enumerate(args) if a == "--keep"]
    assert keeps == [f"acme/tiny@{COMMIT_A}", f"acme/tiny@{COMMIT_B}"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--preload"] == [
        f"acme/other@{COMMIT_B}"
    ]
    usage = json.loads(args[args.index("--usage") + 1])
    assert usage[serving.name] == {
        "requests": 42,
        "lastUsed": "2026-12-06T11:50:00Z",
        "usedBy": ["a"],
    }
    model = next(m for m in plan.status.models if m.name == serving.name)
    assert (model.requests, model.last_used, model.used_by) == (42, "2026-12-06T11:50:00Z", ["a"])


def test_an_old_commit_nobody_uses_is_shown_evicting_while_the_clean_up_runs() -> None:
    old, new = _verified(TINY, COMMIT_A), _verified(TINY, COMMIT_B)
    previous = api.ModelCacheStatus(
        models=[old, new], next_verify_at="2026-12-07T00:00:00Z",
        next_inventory_at="2026-12-06T13:00:00Z",
    )  # fmt: skip
    wants = [_want(TINY, COMMIT_B, "mdep/a")]
    use = cache.Use(in_use={new.name: frozenset({"a"})})
    plan = cache.plan(_inputs(previous=previous, wants=wants, use=use))
    [gc] = _jobs(plan, cache.TASK_GC)  # due: the policy would remove the old commit
    running = _job_view(gc, status={"active": 1})
    during = cache.plan(_inputs(previous=plan.status, wants=wants, use=use, jobs=[running]))
    states = {m.name: m.state for m in during.status.models}
    assert states == {
        old.name: api.CachedModelState.EVICTING,
        new.name: api.CachedModelState.VERIFIED,
    }
    assert _jobs(during, cache.TASK_GC) == []  # one clean-up at a time


def test_a_clean_up_report_is_the_new_inventory_with_an_event_per_removal() -> None:
    old, new = _verified(TINY, COMMIT_A), _verified(TINY, COMMIT_B)
    found = _verified(OTHER, COMMIT_A, bytes=5000)  # on the volume, unknown to the operator
    report = {
        "removed": [{"name": old.name, "bytes": 1000, "why": "old commit: acme/tiny now at bbbb"}],
        "inventory": {
            "scannedAt": "2026-12-06T11:59:50Z",
            "models": [
                new.model_dump(mode="json", by_alias=True, exclude_none=True),
                found.model_dump(mode="json", by_alias=True, exclude_none=True),
            ],
        },
    }
    job = {
        "metadata": {"name": "mc-shared-gc-1", "annotations": {cache.ANNOTATION_TASK: "gc"}},
        "status": {"succeeded": 1, "completionTime": "2026-12-06T11:59:55Z"},
    }
    previous = api.ModelCacheStatus(models=[old, new], next_verify_at="2026-12-07T00:00:00Z")
    plan = cache.plan(
        _inputs(previous=previous, jobs=[cache.JobView.from_job(job, last_line=report)])
    )
    assert sorted(m.name for m in plan.status.models) == sorted([new.name, found.name])
    assert plan.status.used_bytes == 6000 and plan.status.model_count == 2
    assert plan.status.capacity_bytes == 10 * 1024**3
    assert plan.status.inventory_at == "2026-12-06T11:59:50Z"
    assert [e.reason for e in plan.events] == ["ModelEvicted"]
    assert "old commit" in plan.events[0].message


def test_ready_needs_a_bound_volume() -> None:
    pending = cache.plan(_inputs(claim={"status": {"phase": "Pending"}}))
    ready = next(c for c in pending.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "VolumeNotBound")
    bound = cache.plan(_inputs())
    assert next(c for c in bound.status.conditions if c.type == "Ready").status == "True"


def test_after_the_inventory_period_the_volume_is_looked_at_again() -> None:
    looked = NOW - timedelta(minutes=5)
    previous = api.ModelCacheStatus(
        next_verify_at="2026-12-07T00:00:00Z",
        next_inventory_at=(looked + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert _jobs(cache.plan(_inputs(previous=previous)), cache.TASK_GC) == []
    later = cache.plan(_inputs(previous=previous, now=NOW + timedelta(minutes=6)))
    assert len(_jobs(later, cache.TASK_GC)) == 1


def test_a_cancelled_download_leaves_partial_files_the_next_clean_up_removes() -> None:
    wants = [_want(TINY, COMMIT_A, "mdep/a")]
    job = _jobs(cache.plan(_inputs(wants=wants)), cache.TASK_FETCH)[0]
    running = _job_view(job, status={"active": 1}, last_line={"event": "progress", "bytesDone": 5})
    fetching = cache.plan(_inputs(wants=wants, jobs=[running]))
    previous = fetching.status.model_copy(
        update={
            "next_verify_at": "2026-12-07T00:00:00Z",
            "next_inventory_at": "2026-12-07T00:00:00Z",
        }
    )
    cancelled = cache.plan(_inputs(previous=previous, jobs=[running]))  # its requester went
    assert cancelled.delete_jobs == [running.name]
    after = cache.plan(_inputs(previous=cancelled.status))
    [model] = after.status.models
    assert model.state == api.CachedModelState.INCOMPLETE
    [gc] = _jobs(after, cache.TASK_GC)
    args = gc["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--cancelled") + 1] == model.name


def test_a_paused_download_keeps_its_partial_files() -> None:
    wants = [_want(TINY, COMMIT_A, "mdep/a", suspended=True)]
    name = cache.model_directory(TINY, COMMIT_A)
    partial = api.CachedModel(name=name, repo="acme/tiny", commit=COMMIT_A, bytes=5,
                              state=api.CachedModelState.INCOMPLETE)  # fmt: skip
    previous = api.ModelCacheStatus(models=[partial], next_verify_at="2026-12-07T00:00:00Z")
    plan = cache.plan(_inputs(previous=previous, wants=wants))
    [job] = _jobs(plan, cache.TASK_FETCH)
    assert job["spec"]["suspend"] is True
    [gc] = _jobs(plan, cache.TASK_GC)
    args = gc["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--cancelled" not in args and f"acme/tiny@{COMMIT_A}" in args


def test_a_report_seen_again_changes_nothing_and_tells_nothing_twice() -> None:
    new = _verified(TINY, COMMIT_B)
    report = {
        "removed": [{"name": "gone", "bytes": 1, "why": "old commit"}],
        "inventory": {"scannedAt": "2026-12-06T11:59:50Z", "models": []},
    }
    job = {
        "metadata": {"name": "mc-shared-gc-1", "annotations": {cache.ANNOTATION_TASK: "gc"}},
        "status": {"succeeded": 1, "completionTime": "2026-12-06T11:59:55Z"},
    }
    view = cache.JobView.from_job(job, last_line=report)
    previous = api.ModelCacheStatus(
        models=[new], inventory_at="2026-12-06T11:59:50Z", next_verify_at="2026-12-07T00:00:00Z"
    )
    plan = cache.plan(_inputs(previous=previous, jobs=[view], reported=frozenset({view.name})))
    assert [m.name for m in plan.status.models] == [new.name]  # not replaced by the old scan
    assert plan.events == []
    assert plan.delete_jobs == [view.name]


def test_a_download_that_cannot_fit_does_not_start_and_says_the_numbers() -> None:
    held = _verified(OTHER, COMMIT_A, bytes=9 * 1024**3)
    previous = api.ModelCacheStatus(models=[held], next_verify_at="2026-12-07T00:00:00Z")
    big = cache.Want(
        cache.model_directory(TINY, COMMIT_A), TINY, COMMIT_A, "mdep/a", bytes_needed=2 * 1024**3
    )
    plan = cache.plan(_inputs(previous=previous, wants=[big]))
    assert _jobs(plan, cache.TASK_FETCH) == []
    [pending] = plan.status.pending
    assert pending.reason == "InsufficientCacheSpace" and pending.name == big.directory
    assert f"needs at least {2 * 1024**3} more bytes" in pending.message
    assert f"{1024**3} of {10 * 1024**3} are free" in pending.message
    degraded = next(c for c in plan.status.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "InsufficientCacheSpace")
    small = dataclasses.replace(big, bytes_needed=1024**2)
    assert len(_jobs(cache.plan(_inputs(previous=previous, wants=[small])), cache.TASK_FETCH)) == 1


def test_a_lost_volume_is_named() -> None:
    lost = cache.plan(_inputs(claim={"status": {"phase": "Lost"}}))
    ready = next(c for c in lost.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "VolumeLost")


def test_the_columns_show_sizes_for_people() -> None:
    previous = api.ModelCacheStatus(models=[_verified(TINY, COMMIT_A, bytes=512 * 1024**2)])
    status = cache.plan(_inputs(previous=previous)).status
    assert (status.used, status.capacity, status.used_percent) == ("512.0 MiB (5%)", "10.0 GiB", 5)


def test_every_job_name_of_the_longest_cache_name_fits_a_label_value() -> None:
    from modeldeploy.operator.api.types import MAX_CACHE_NAME_LENGTH

    longest = "c" * MAX_CACHE_NAME_LENGTH
    corrupted = _verified(TINY, COMMIT_A, state=api.CachedModelState.CORRUPTED, bad_files=["x"])
    previous = api.ModelCacheStatus(models=[corrupted], next_verify_at="2026-12-06T11:00:00Z")
    inputs = _inputs(name=longest, previous=previous, wants=[_want(OTHER, COMMIT_B, "mdep/a")])
    jobs = [o for o in cache.plan(inputs).objects if o["kind"] == "Job"]
    tasks = {j["metadata"]["annotations"][cache.ANNOTATION_TASK] for j in jobs}
    assert tasks == {cache.TASK_FETCH, cache.TASK_REPAIR, cache.TASK_VERIFY}
    gc = cache.plan(dataclasses.replace(inputs, previous=api.ModelCacheStatus(
        next_verify_at="2026-12-07T00:00:00Z")))  # fmt: skip
    jobs += _jobs(gc, cache.TASK_GC)
    assert all(len(j["metadata"]["name"]) <= 63 for j in jobs), [
        j["metadata"]["name"] for j in jobs
    ]


def test_a_preload_that_does_not_resolve_is_named() -> None:
    plan = cache.plan(_inputs(preload_errors=["spec.preload[0] acme/gone@main: RepoNotFound: x"]))
    degraded = next(c for c in plan.status.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "PreloadUnresolved")
    assert "spec.preload[0] acme/gone@main" in degraded.message
    assert "PreloadUnresolved" in (plan.status.message or "")


def test_a_cancelled_download_is_no_failure_and_watermarks_use_the_claims_capacity() -> None:
    name = cache.model_directory(TINY, COMMIT_A)
    cancelled = api.CachedModel(name=name, repo="acme/tiny", commit=COMMIT_A, bytes=5,
                                state=api.CachedModelState.INCOMPLETE,
                                message="its download stopped (the fetch Job is gone)")  # fmt: skip
    plan = cache.plan(_inputs(previous=api.ModelCacheStatus(models=[cancelled])))
    assert next(c for c in plan.status.conditions if c.type == "Degraded").status == "False"
    [gc] = _jobs(plan, cache.TASK_GC)
    args = gc["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--capacity") + 1] == str(10 * 1024**3)


def test_a_volume_report_never_takes_back_requests_counted_since_its_job_started() -> None:
    counted = _verified(TINY, COMMIT_A).model_copy(
        update={"requests": 97, "last_used": "2026-12-06T11:59:00Z"}
    )
    scanned = counted.model_copy(update={"requests": 40, "last_used": "2026-12-06T11:50:00Z"})
    report = {
        "verify": [],
        "inventory": {
            "scannedAt": "2026-12-06T11:59:30Z",
            "models": [scanned.model_dump(mode="json", by_alias=True, exclude_none=True)],
        },
    }
    job = {
        "metadata": {
            "name": "mc-shared-verify-1",
            "annotations": {cache.ANNOTATION_TASK: "verify"},
        },
        "status": {"succeeded": 1, "completionTime": "2026-12-06T11:59:40Z"},
    }
    previous = api.ModelCacheStatus(models=[counted], next_verify_at="2026-12-07T00:00:00Z")
    use = cache.Use(requests={counted.name: 3})
    plan = cache.plan(
        _inputs(previous=previous, use=use, jobs=[cache.JobView.from_job(job, last_line=report)])
    )
    [model] = plan.status.models
    assert (model.requests, model.last_used) == (100, "2026-12-06T11:59:00Z")
