"""A real Kubernetes control plane on loopback for tests, built from source by hack/build-tools.sh.

Why: an operator tested against mocks passes while the real API server rejects its objects, drops
status fields or forbids it by RBAC. These machines have no Docker, so instead of kind we run the
real etcd, kube-apiserver (RBAC on), kube-controller-manager and kube-scheduler as plain processes,
plus kwok, which simulates kubelets: the nodes in tests/support/nodes/ are Node objects that kwok
keeps Ready, and kwok marks bound pods Running/Ready by its stages (tests/support/kwok/).
No container ever runs and no probe is ever executed; what is real is the API server, etcd, the
scheduler's placement, the controllers (Deployments, ReplicaSets, Jobs, garbage collection,
service-account tokens) and RBAC.

Every process binds to 127.0.0.1 on ports picked free at start (two runs on one machine never
clash), is recorded in the run's state dir by PID, and is stopped by that PID (SIGTERM, then
SIGKILL). The state dir is removed on stop. One implementation serves both the pytest fixture
(`running_cluster()`) and the command line (`python -m tests.support.cluster up|down|status|env`,
wrapped by hack/local-cluster.sh). Stdlib only, so any python3 can run the command line.

If MODELDEPLOY_E2E_KUBECONFIG is set, `running_cluster()` starts nothing and uses that cluster
(e.g. a kind cluster, see hack/kind/e2e.sh).
"""

from tests.support.cluster.errors import ClusterError
from tests.support.cluster.lifecycle import Cluster, external_cluster, running_cluster
from tests.support.cluster.tools import E2E_KUBECONFIG_ENV, find_bin_dir, unavailable_reason

__all__ = [
    "E2E_KUBECONFIG_ENV",
    "Cluster",
    "ClusterError",
    "external_cluster",
    "find_bin_dir",
    "running_cluster",
    "unavailable_reason",
]
