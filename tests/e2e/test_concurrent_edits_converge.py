"""Edits racing the operator (and each other) converge on the last spec; nothing is lost."""

from __future__ import annotations

import threading

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import apply, get, wait_status
from tests.support.cluster import Cluster

pytestmark = pytest.mark.cluster


def test_racing_scale_and_edit(
    cluster: Cluster, namespace: str, running_operator: helpers.OperatorProcess
) -> None:
    apply(cluster, helpers.model_deployment("race", namespace=namespace, replicas=1))
    helpers.wait_for(
        lambda: get(cluster, "deployment", "race", namespace), bool, what="the Deployment"
    )
    errors: list[str] = []

    def scale(n: int) -> None:
        done = cluster.kubectl(
            "scale", "mdep/race", f"--replicas={n}", "-n", namespace, check=False
        )
        if done.returncode != 0:
            errors.append(done.stderr)

    def relabel(n: int) -> None:
        patch = f'{{"spec":{{"runtime":{{"warmup":{{"prompt":"hello {n}"}}}}}}}}'
        done = cluster.kubectl(
            "patch", "mdep", "race", "-n", namespace, "--type", "merge", "-p", patch, check=False
        )
        if done.returncode != 0:
            errors.append(done.stderr)

    threads = [threading.Thread(target=f, args=(n,)) for n in range(2, 6) for f in (scale, relabel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    md = get(cluster, "modeldeployment", "race", namespace)
    want_replicas, want_prompt = md["spec"]["replicas"], md["spec"]["runtime"]["warmup"]["prompt"]

    def converged(d: dict | None) -> bool:
        if not d:
            return False
        args = d["spec"]["template"]["spec"]["containers"][0]["args"]
        return (
            d["spec"]["replicas"] == want_replicas
            and args[args.index("--warmup-prompt") + 1] == want_prompt
        )

    helpers.wait_for(
        lambda: get(cluster, "deployment", "race", namespace),
        converged,
        what="the last spec applied",
    )
    wait_status(
        cluster,
        "race",
        namespace,
        lambda o: o.get("status", {}).get("observedGeneration") == md["metadata"]["generation"],
        what="status of the last generation",
    )
    assert running_operator.alive()
