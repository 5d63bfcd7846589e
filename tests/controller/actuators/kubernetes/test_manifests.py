"""deploy/*.yaml and deploy/options/*.yaml: the kinds, the Roles' rights (in each mode, exactly
what the controller uses, checked against the requests it really makes), and a Deployment
that runs the controller alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from kmock import KubernetesEmulator
from kubernetes.aio.client import ApiClient, Configuration

from controller.actuators.kubernetes import PoolUnavailable
from controller.actuators.kubernetes.keda import PAUSED
from controller.actuators.kubernetes.rbac import least_grants
from controller.coordination.kube_lease import NAME, KubernetesLease
from controller.core.busy import BusyPods
from controller.core.config import Config, parse_config
from controller.core.model import Reason, ScaleDecision
from tests.support import eventually
from tests.support.factories import config, pool
from tests.support.kmock import (
    DEPLOYMENTS,
    PODS,
    SCALED_OBJECTS,
    MakeScaler,
    deployment,
    hang,
    pod,
    scaled_object,
)
from tests.support.records import replaced

DEPLOY = Path(__file__).resolve().parents[4] / "deploy"
KUBERNETES_LEASE = "options/rbac-kubernetes-lease.yaml"

LEAST_RIGHTS = {
    ("apps", "deployments", "list"),
    ("apps", "deployments", "watch"),
    ("apps", "deployments/scale", "get"),  # a scale whose answer was lost is read back
    ("apps", "deployments/scale", "patch"),
    ("", "pods", "list"),
    ("", "pods", "watch"),
    ("", "pods", "patch"),  # idle pods go first: their pod-deletion-cost, before a scale-down
    ("", "events", "create"),
    ("autoscaling", "horizontalpodautoscalers", "list"),
    ("autoscaling", "horizontalpodautoscalers", "watch"),
    ("keda.sh", "scaledobjects", "list"),
    ("keda.sh", "scaledobjects", "watch"),
    ("keda.sh", "scaledobjects", "patch"),  # take_over pauses KEDA before it scales
}


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


def only(name: str, kind: str) -> dict[str, Any]:
    (doc,) = [doc for doc in documents(name) if doc["kind"] == kind]
    return doc


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(cluster: KubernetesEmulator) -> set[tuple[str, str, str]]:
    """The rights the requests the emulator has served needed."""
    verbs = {
        "LIST": "list",
        "WATCH": "watch",
        "FETCH": "get",
        "CREATE": "create",
        "UPDATE": "patch",
        "DELETE": "delete",
    }
    return {
        (
            r.resource.group,
            "/".join(filter(None, [r.resource.plural, r.subresource])),
            verbs[r.action.name],
        )
        for r in cluster
        if r.resource is not None and r.action is not None
    }


def test_each_manifest_holds_the_kinds_it_should() -> None:
    assert [d["kind"] for d in documents("rbac.yaml")] == ["ServiceAccount", "Role", "RoleBinding"]
    assert [d["kind"] for d in documents("deployment.yaml")] == ["Deployment"]
    assert [d["kind"] for d in documents("configmap.yaml")] == ["ConfigMap"]
    assert [d["kind"] for d in documents(KUBERNETES_LEASE)] == ["Role", "RoleBinding"]


def test_the_role_grants_exactly_the_least_rights() -> None:
    assert granted(only("rbac.yaml", "Role")) == LEAST_RIGHTS


async def scale_down_once(
    cluster: KubernetesEmulator, make_scaler: MakeScaler, fleet: Config
) -> None:
    """Everything the scaler does for this config: it watches, takes over from KEDA's
    ScaledObject if the pool says so (patch scaledobjects), marks an idle pod to go first if
    the config does (patch pods), scales down and says why; and reads back a scale whose
    answer is lost (get deployments/scale)."""
    cluster.resources[SCALED_OBJECTS] = {}  # KEDA installed: its watch is made too
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    cluster.objects[PODS, "agents", "web-a"] = pod("web-a", "web", phase="Running", ready=True)
    if fleet.pools["web"].take_over:
        cluster.objects[SCALED_OBJECTS, "agents", "web-queue"] = scaled_object("web-queue", "web")
    busy = BusyPods(fleet)
    busy.report("web", "web-a", 0, 0.0)  # idle
    scaler = make_scaler(  # as agentdash.runtime makes it from the config
        fleet,
        take_over={name for name, p in fleet.pools.items() if p.take_over},
        annotate=fleet.kubernetes.annotate,
        busy=busy if fleet.kubernetes.pod_deletion_cost else None,
    )
    await scaler.observe()
    await eventually(lambda: len(cluster[cluster.action.WATCH]) == 4)  # one per kind
    why = ScaleDecision(
        pool="web",
        tenant="acme",
        current=2,
        desired=1,
        reasons=(Reason(rule="demand", template="lag 1 -> 1"),),
    )

    await scaler.scale_with_reason("web", 1, why, 0.0)

    assert cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 1
    cluster.faults.append(hang("PATCH", "/apis/apps/v1/namespaces/agents/deployments/web/scale"))
    by = asyncio.get_running_loop().time() + 0.3
    again = replaced(why, current=1, desired=2)
    with pytest.raises(PoolUnavailable, match="read back: not applied"):
        await scaler.scale_with_reason("web", 2, again, 0.0, lambda: by)


async def test_the_scaler_uses_exactly_the_rights_the_role_grants(
    cluster: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    await scale_down_once(cluster, make_scaler, config({"web": pool("acme", take_over=True)}))

    assert used(cluster) == granted(only("rbac.yaml", "Role"))
    assert (
        cluster.objects[SCALED_OBJECTS, "agents", "web-queue"]["metadata"]["annotations"][PAUSED]
        == "true"
    )


@pytest.mark.parametrize(
    ("kubernetes", "take_over"),
    [
        ({}, False),
        ({}, True),
        ({"annotate": True}, False),
        ({"annotate": True, "pod_deletion_cost": False}, True),
        ({"pod_deletion_cost": False}, False),
    ],
)
async def test_the_scaler_uses_exactly_the_rights_agentdash_rbac_grants_for_its_config(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    kubernetes: dict[str, bool],
    take_over: bool,
) -> None:
    fleet = config({"web": pool("acme", take_over=take_over)}, kubernetes=kubernetes)
    (grants,) = least_grants(fleet)

    await scale_down_once(cluster, make_scaler, fleet)

    assert grants.namespace == "agents"
    assert used(cluster) == granted(grants.role())


async def renew_take_and_release(cluster: KubernetesEmulator, namespace: str) -> None:
    """Two processes elect a leader on the Lease: created, renewed, read, released."""
    host = str(cluster.url).rstrip("/")
    leases = [
        KubernetesLease(
            ApiClient(Configuration(host=host)),
            holder,
            namespace=namespace,
            owns_client=True,
        )
        for holder in ("pod-a", "pod-b")
    ]
    a, b = leases
    try:
        assert await a.renew()  # created
        assert await a.renew()  # renewed
        assert not await b.renew()  # read
        await a.release()
    finally:
        for lease in leases:
            await lease.close()


async def test_the_kubernetes_lease_uses_exactly_the_rights_its_role_grants(
    cluster: KubernetesEmulator,
) -> None:
    role = only(KUBERNETES_LEASE, "Role")
    account = only("rbac.yaml", "ServiceAccount")["metadata"]

    await renew_take_and_release(cluster, account["namespace"])  # the controller's own

    assert used(cluster) == granted(role)
    assert role["metadata"]["namespace"] == account["namespace"]
    named = [rule for rule in role["rules"] if "resourceNames" in rule]
    assert [rule["resourceNames"] for rule in named] == [[NAME]]
    binding = only(KUBERNETES_LEASE, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


async def test_the_kubernetes_lease_uses_exactly_the_rights_agentdash_rbac_grants(
    cluster: KubernetesEmulator,
) -> None:
    fleet = config({"web": pool("acme")}, kubernetes={"lease": {"namespace": "agentdash"}})
    pools, lease = least_grants(fleet)[::-1]  # sorted by namespace: agentdash, agents

    await renew_take_and_release(cluster, "agentdash")

    assert (lease.namespace, pools.namespace) == ("agentdash", "agents")
    assert used(cluster) == granted(lease.role())
    assert [g.names for g in lease.grants] == [(), (NAME,)]  # create cannot be named


def test_the_role_is_bound_to_the_controllers_service_account() -> None:
    account = only("rbac.yaml", "ServiceAccount")["metadata"]
    role = only("rbac.yaml", "Role")
    binding = only("rbac.yaml", "RoleBinding")
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


def test_the_deployment_runs_one_headless_controller_with_its_account_and_config() -> None:
    workload = only("deployment.yaml", "Deployment")
    account = only("rbac.yaml", "ServiceAccount")["metadata"]
    configmap = only("configmap.yaml", "ConfigMap")["metadata"]
    pod = workload["spec"]["template"]
    (container,) = pod["spec"]["containers"]

    assert container["command"] + container["args"] == [
        "agentdash",
        "--controller-only",
        "--config",
        "/etc/agentdash/agentdash.yaml",
        "--http",
        ":9090",
    ]
    assert workload["spec"]["replicas"] == 2  # the leader lease keeps one actuator
    assert workload["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert workload["metadata"]["namespace"] == account["namespace"] == configmap["namespace"]
    assert pod["spec"]["serviceAccountName"] == account["name"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/agentdash"]
    assert volumes[mount["name"]]["configMap"]["name"] == configmap["name"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in (container["livenessProbe"], container["readinessProbe"]):
        assert ports[probe["httpGet"]["port"]] == 9090
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "prometheus.io/path": "/metrics",
    }


def test_the_example_config_is_valid_and_its_pools_are_where_the_role_is() -> None:
    data = only("configmap.yaml", "ConfigMap")["data"]
    cfg = parse_config(yaml.safe_load(data["agentdash.yaml"]), "deploy/configmap.yaml")
    role_namespace = only("rbac.yaml", "Role")["metadata"]["namespace"]
    assert {pool.deployment.namespace for pool in cfg.pools.values()} == {role_namespace}
