"""observe(): replicas, readiness and pods from the watches; pools that cannot be read are
left out with a reason, and only an unreachable API is a SourceError."""

from __future__ import annotations

import pytest
from kmock import KubernetesEmulator, KubernetesError

from controller.actuators.kubernetes import PoolUnavailable
from controller.core.model import Pod, SourceError
from tests.support.kmock import (
    CREATED_AT,
    DEPLOYMENTS,
    PODS,
    MakeScaler,
    deployment,
    nowhere,
    observe_until,
    pod,
    send,
    web_and_vault,
)

SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
READY = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}


async def test_replicas_come_from_the_deployment_and_pods_from_its_selector(
    cluster: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    cluster.objects[PODS, "agents", "web-a"] = pod("web-a", "web", phase="Running", ready=True)
    cluster.objects[PODS, "agents", "web-b"] = pod("web-b", "web")
    cluster.objects[PODS, "agents", "db-0"] = pod("db-0", "db", phase="Running", ready=True)
    scaler = make_scaler()

    state = (await scaler.observe())["web"]

    assert (state.replicas, state.ready) == (2, 1)
    assert state.pods == (
        Pod("web-a", "web", "Running", True, CREATED_AT),
        Pod("web-b", "web", "Pending", False, CREATED_AT),
    )
    assert scaler.problems == {}


async def test_pods_appearing_becoming_ready_and_going_show_in_the_next_observation(
    cluster: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    scaler = make_scaler()
    assert (await scaler.observe())["web"].pods == ()

    await send(cluster, "POST", "/api/v1/namespaces/agents/pods", pod("web-a", "web"))
    states = await observe_until(scaler, lambda s: len(s["web"].pods) == 1)
    assert (states["web"].pods[0].phase, states["web"].ready) == ("Pending", 0)

    await send(cluster, "PATCH", "/api/v1/namespaces/agents/pods/web-a", {"status": READY})
    states = await observe_until(scaler, lambda s: s["web"].ready == 1)
    assert states["web"].pods[0].phase == "Running"

    await send(cluster, "DELETE", "/api/v1/namespaces/agents/pods/web-a")
    states = await observe_until(scaler, lambda s: s["web"].pods == ())
    assert states["web"].ready == 0


async def test_a_replica_change_by_someone_else_is_seen(
    cluster: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    scaler = make_scaler()
    assert (await scaler.observe())["web"].replicas == 1

    await send(cluster, "PATCH", SCALE_PATH, {"spec": {"replicas": 4}})

    await observe_until(scaler, lambda s: s["web"].replicas == 4)


async def test_without_pod_permissions_ready_comes_from_the_deployment_status(
    cluster: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=3, ready=2)
    cluster[cluster.resource(PODS)] << KubernetesError(403, "Forbidden", "pods is forbidden")
    scaler = make_scaler()

    state = (await scaler.observe())["web"]

    assert (state.replicas, state.ready, state.pods) == (3, 2, ())


async def test_a_deleted_deployment_leaves_its_pool_out_with_the_reason(
    cluster: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web")
    scaler = make_scaler()
    assert "web" in await scaler.observe()
    # Wait until a change is seen, so the watch is open: unlike the API server, the emulator
    # cannot replay a deletion made between the list and the start of the watch.
    await send(cluster, "PATCH", SCALE_PATH, {"spec": {"replicas": 3}})
    await observe_until(scaler, lambda s: s["web"].replicas == 3)

    await send(cluster, "DELETE", "/apis/apps/v1/namespaces/agents/deployments/web")

    await observe_until(scaler, lambda s: "web" not in s)
    assert scaler.problems == {"web": "Deployment agents/web not found"}
    with pytest.raises(PoolUnavailable, match="Deployment agents/web not found"):
        await scaler.scale("web", 2)
    assert [r.data for r in cluster["patch"]] == [{"spec": {"replicas": 3}}]  # the test's own


async def test_a_forbidden_namespace_marks_its_pools_and_the_others_carry_on(
    cluster: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    cfg = web_and_vault()
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    cluster.objects[DEPLOYMENTS, "locked", "vault"] = deployment("vault", namespace="locked")
    denied = (
        'deployments.apps is forbidden: User "system:serviceaccount:agentdash:agentdash" '
        'cannot list resource "deployments" in API group "apps" in the namespace "locked"'
    )
    cluster[cluster.namespace("locked")] << KubernetesError(403, "Forbidden", denied)
    scaler = make_scaler(cfg)

    states = await scaler.observe()

    assert list(states) == ["web"]
    assert states["web"].replicas == 2
    problem = scaler.problems["vault"]
    assert denied in problem
    assert "agentdash rbac --config FILE" in problem
    with pytest.raises(PoolUnavailable, match="forbidden"):
        await scaler.scale("vault", 3)
    assert len(cluster["patch"]) == 0


async def test_an_unreachable_api_is_a_source_error(make_scaler: MakeScaler) -> None:
    scaler = make_scaler(host=nowhere())

    with pytest.raises(SourceError, match=r"cannot read the cluster: .*cannot reach the API"):
        await scaler.observe()
    with pytest.raises(SourceError, match="cannot read the cluster"):
        await scaler.observe()  # still not, and still no crash


async def test_an_expired_watch_is_listed_again_and_changes_still_arrive(
    cluster: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    expired = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    deployments = cluster.resource(DEPLOYMENTS)
    cluster[cluster.action.WATCH, deployments][:1] << ({"type": "ERROR", "object": expired},)
    scaler = make_scaler()
    await scaler.observe()

    # Listed again at once, and observing never fails meanwhile.
    await observe_until(scaler, lambda _: len(cluster[cluster.action.LIST, deployments]) == 2)
    await send(cluster, "PATCH", SCALE_PATH, {"spec": {"replicas": 6}})

    await observe_until(scaler, lambda s: s["web"].replicas == 6)
    assert scaler.problems == {}


@pytest.mark.parametrize(
    ("spec", "ready", "said"),
    [
        (2**40, 0, "spec.replicas is 1099511627776"),
        ("3", 0, "spec.replicas is '3'"),
        (2, -7, "status.readyReplicas is -7"),
        (2, 1e300, "status.readyReplicas is 1e+300"),
    ],
)
async def test_a_deployment_whose_counts_are_no_counts_holds_its_pool_with_the_reason(
    cluster: KubernetesEmulator, make_scaler: MakeScaler, spec: object, ready: object, said: str
) -> None:
    """A real API server answers int32s; an answer that is not one (a forged or broken API)
    holds the pool, as a Deployment gone does: scaled back from 2^40 replicas, the step was
    kept in the history, and the pool's whole entry refused at the next failover."""
    forged = deployment("web", replicas=2)
    forged["spec"]["replicas"], forged["status"]["readyReplicas"] = spec, ready
    cluster.objects[DEPLOYMENTS, "agents", "web"] = forged
    scaler = make_scaler()

    assert "web" not in await scaler.observe()
    assert scaler.problems["web"].startswith(f"Deployment agents/web: {said}, not a count")
    with pytest.raises(PoolUnavailable, match="not a count"):
        await scaler.scale("web", 2)
