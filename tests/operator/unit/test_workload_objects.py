"""The runtime Deployment, its Service and the optional ServiceMonitor."""

from __future__ import annotations

from modeldeploy.operator.planners import naming, workload
from tests.operator.unit.builders import COMMIT_A, spec

NAMES = naming.Names(name="tiny", namespace="ml")


def _deployment(the_spec, *, commit=COMMIT_A, replicas=2):
    inputs = workload.WorkloadInputs(
        names=NAMES,
        uid="u-1",
        commit=commit,
        image="img:1",
        endpoint="http://mirror",
        replicas=replicas,
        weight_bytes=1 << 30,
    )
    return workload.deployment(the_spec, inputs)


def _container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_cached_replicas_mount_the_cache_read_only_and_never_download() -> None:
    deployment = _deployment(
        spec(cache={"size": "1Gi"}, gpu={"count": 1}, runtime={"verify": "full"})
    )
    container = _container(deployment)
    args = container["args"]
    assert args[:3] == ["serve", "--model-dir", f"/cache/{COMMIT_A}"]
    assert "--repo" not in args and "--endpoint" not in args
    assert args[args.index("--device") : args.index("--device") + 2] == ["--device", "cuda"]
    assert args[args.index("--verify") : args.index("--verify") + 2] == ["--verify", "full"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "cache")
    assert mount["readOnly"] is True
    volume = next(
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "cache"
    )
    assert volume["persistentVolumeClaim"] == {"claimName": "tiny-cache", "readOnly": True}
    assert all(e["name"] != "HF_TOKEN" for e in container["env"])


def test_per_pod_mode_fetches_the_resolved_commit_into_an_empty_dir() -> None:
    the_spec = spec(model={"repo": "acme/tiny", "tokenSecretRef": {"name": "hf"}})
    container = _container(_deployment(the_spec))
    args = container["args"]
    assert args[args.index("--repo") : args.index("--repo") + 6] == [
        "--repo",
        "acme/tiny",
        "--revision",
        COMMIT_A,
        "--endpoint",
        "http://mirror",
    ]
    assert args[args.index("--device") : args.index("--device") + 2] == ["--device", "cpu"]
    assert {"name": "model", "mountPath": "/model"} in container["volumeMounts"]
    assert any(
        e["name"] == "HF_TOKEN" and "secretKeyRef" in e["valueFrom"] for e in container["env"]
    )


def test_container_contract_fields() -> None:
    container = _container(_deployment(spec()))
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert "--termination-log" in container["args"] and "--served-model-name" in container["args"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"]["path"] == "/startupz"


def test_a_deleted_replica_keeps_serving_until_services_stop_routing_to_it() -> None:
    deployment = _deployment(spec())
    container = _container(deployment)
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sleep", "5"]
    # The sleep comes before SIGTERM and the drain: both fit the grace period.
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 5 + 30


def test_rollouts_keep_old_replicas_until_new_ones_are_ready() -> None:
    deployment = _deployment(spec())
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_selector_is_stable_across_revisions_and_labels_carry_the_revision() -> None:
    first, second = _deployment(spec()), _deployment(spec(), commit="b" * 40)
    assert first["spec"]["selector"] == second["spec"]["selector"]
    labels = first["spec"]["template"]["metadata"]["labels"]
    assert labels[naming.LABEL_REVISION] == COMMIT_A[:12]
    assert labels["app.kubernetes.io/managed-by"] == "modeldeploy"
    assert labels["app.kubernetes.io/instance"] == "tiny"
    for key, value in first["spec"]["selector"]["matchLabels"].items():
        assert labels[key] == value


def test_children_are_owned_by_the_model_deployment() -> None:
    for obj in (
        _deployment(spec()),
        workload.service(spec(), names=NAMES, uid="u-1"),
        workload.service_monitor(names=NAMES, uid="u-1"),
    ):
        owner = obj["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "ModelDeployment" and owner["uid"] == "u-1" and owner["controller"]


def test_service_selects_the_runtime_pods_on_the_http_port() -> None:
    service = workload.service(spec(runtime={"port": 9000}), names=NAMES, uid="u-1")
    assert service["spec"]["selector"] == naming.runtime_selector("tiny")
    assert service["spec"]["ports"][0]["port"] == 9000


def test_warmup_settings_reach_the_runtime() -> None:
    off = _container(_deployment(spec(runtime={"warmup": {"enabled": False}})))["args"]
    assert "--no-warmup" in off
    on = _container(_deployment(spec(runtime={"warmup": {"prompt": "Hi", "maxTokens": 4}})))["args"]
    assert on[on.index("--warmup-prompt") :][:4] == [
        "--warmup-prompt",
        "Hi",
        "--warmup-max-tokens",
        "4",
    ]
