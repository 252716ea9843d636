"""A ModelCache: which model directories it must hold, its Jobs, and what its status says.

Pure: the reconciler gathers the inputs (the ModelCache, its Jobs and claim, what the
ModelDeployments that use it want, the reports its finished Jobs printed) and carries out
the plan. The decisions that make sharing safe live here:

* one fetch Job per model directory (the sharing key: repo, commit and file selection), so
  deployments that want the same directory wait on the same fetch and different models
  are fetched side by side;
* a fetch Job is suspended (Job `spec.suspend`) while everyone who wants it is suspended,
  or the cache itself is: its partial files stay and a resumed Job continues from them;
* a full re-hash of every model every `verify.every`, repairing bad files when asked;
* a clean-up Job only when the retention policy, applied to what the operator knows of the
  volume, would remove something — or when the volume has not been looked at for
  `inventory_seconds` — and never while anyone's use of the volume is unknown.
"""

from __future__ import annotations

from modeldeploy.operator.planners.cache.inputs import (
    ANNOTATION_MODEL_DIR,
    ANNOTATION_TASK,
    COMMIT,
    LABEL_CACHE,
    MAINTENANCE_TTL_SECONDS,
    MIN_CLEANUP_SECONDS,
    TASK_FETCH,
    TASK_GC,
    TASK_REPAIR,
    TASK_VERIFY,
    CacheInputs,
    CachePlan,
    JobView,
    Use,
    Want,
    cache_labels,
    claim_name,
    model_directory,
    owner_reference,
    selection,
)
from modeldeploy.operator.planners.cache.jobs import claim, fetch_job, maintenance_args, token_env
from modeldeploy.operator.planners.cache.maintenance import Schedule
from modeldeploy.operator.planners.cache.plan import plan

__all__ = [
    "ANNOTATION_MODEL_DIR",
    "ANNOTATION_TASK",
    "COMMIT",
    "LABEL_CACHE",
    "MAINTENANCE_TTL_SECONDS",
    "MIN_CLEANUP_SECONDS",
    "TASK_FETCH",
    "TASK_GC",
    "TASK_REPAIR",
    "TASK_VERIFY",
    "CacheInputs",
    "CachePlan",
    "JobView",
    "Schedule",
    "Use",
    "Want",
    "cache_labels",
    "claim",
    "claim_name",
    "fetch_job",
    "maintenance_args",
    "model_directory",
    "owner_reference",
    "plan",
    "selection",
    "token_env",
]
