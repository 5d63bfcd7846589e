"""The rights the API server refuses, kept for /healthz in RBAC's terms until granted: a 403
on any request, a pool's or not, names its right once; a later success clears it."""

from __future__ import annotations

import functools

import pytest
from kmock import KubernetesEmulator

from controller.actuators.kubernetes import PoolUnavailable
from controller.actuators.kubernetes.refusals import SHOWN, Refusals, right_of
from controller.core.model import Reason, ScaleDecision
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.kmock import (
    DEPLOYMENTS,
    MakeScaler,
    deployment,
    observe_until,
    refuse,
)
from tests.support.records import replaced

EVENTS_PATH = "/api/v1/namespaces/agents/events"
NO_EVENTS = (
    'events is forbidden: User "system:serviceaccount:agentdash:agentdash" cannot create '
    'resource "events" in API group "" in the namespace "agents"'
)
GROW = ScaleDecision(
    pool="web",
    tenant="acme",
    current=2,
    desired=5,
    reasons=(Reason(rule="demand", template="lag 10", args=()),),
)


@pytest.fixture
def web(cluster: KubernetesEmulator) -> KubernetesEmulator:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    return cluster


async def test_a_refused_event_is_listed_while_the_scale_goes_on_and_cleared_once_granted(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    refusal = refuse("POST", EVENTS_PATH, 403, NO_EVENTS)
    web.faults.append(refusal)
    scaler = make_scaler()
    await scaler.observe()

    await scaler.scale_with_reason("web", 5, GROW, 0.0)

    assert (await scaler.observe())["web"].replicas == 5  # it held nothing
    await eventually(lambda: "create events" in scaler.api.refusals.refused)
    assert scaler.api.refusals.refused == {"create events": NO_EVENTS}

    web.faults.remove(refusal)  # an operator granted it
    await scaler.scale_with_reason("web", 6, replaced(GROW, current=5, desired=6), 0.0)
    await eventually(lambda: scaler.api.refusals.refused == {})


def test_a_right_is_named_as_rbac_names_it() -> None:
    def patch_namespaced_deployment_scale_without_preload_content() -> None: ...

    said = 'cannot patch resource "deployments/scale" in API group "apps" in the namespace "a"'
    request = patch_namespaced_deployment_scale_without_preload_content
    assert right_of(said, request) == "patch deployments/scale (apps)"
    assert right_of("forbidden", request) == "patch deployment_scale"


def test_a_role_stripped_bare_gives_a_short_list() -> None:
    refusals = Refusals()
    for n in range(SHOWN + 10):
        refusals.refuse(lambda: None, f'cannot get resource "r{n}" in API group ""')
    assert len(refusals.refused) == SHOWN


def test_one_method_for_two_kinds_is_granted_kind_by_kind() -> None:
    """The custom objects' list reads ScaledObjects and, on old clusters, HPAs: HPAs read
    do not grant what was refused of ScaledObjects."""

    def list_namespaced_custom_object(**kwargs: str) -> None: ...

    scaled_objects = functools.partial(list_namespaced_custom_object, plural="scaledobjects")
    hpas = functools.partial(list_namespaced_custom_object, plural="horizontalpodautoscalers")
    refusals = Refusals()
    refusals.refuse(scaled_objects, 'cannot list resource "scaledobjects" in API group "keda.sh"')
    refusals.grant(hpas)
    assert list(refusals.refused) == ["list scaledobjects (keda.sh)"]
    refusals.grant(scaled_objects)
    assert refusals.refused == {}


def test_a_list_that_succeeds_does_not_grant_the_watch_refused() -> None:
    """An informer lists, then watches, with one client method: a Role that grants `list` and
    not `watch` stays listed however often the list succeeds."""

    def list_namespaced_horizontal_pod_autoscaler() -> None: ...

    said = 'cannot watch resource "horizontalpodautoscalers" in API group "autoscaling"'
    refusals = Refusals()
    refusals.refuse(list_namespaced_horizontal_pod_autoscaler, said, watch=True)
    refusals.grant(list_namespaced_horizontal_pod_autoscaler)
    assert list(refusals.refused) == ["watch horizontalpodautoscalers (autoscaling)"]
    refusals.grant(list_namespaced_horizontal_pod_autoscaler, watch=True)
    assert refusals.refused == {}


async def test_a_namespace_read_does_not_grant_what_another_namespace_refused(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    """A pool put in a namespace with no Role (a typo: `agent`): its Deployments are refused,
    those of the namespace beside it are read. /healthz keeps the refusal listed for as long
    as it lasts, whichever namespace was listed last."""
    locked = (
        'deployments.apps is forbidden: User "system:serviceaccount:agentdash:agentdash" '
        'cannot list resource "deployments" in API group "apps" in the namespace "locked"'
    )
    web.faults.append(refuse("GET", "/apis/apps/v1/namespaces/locked/deployments", 403, locked))
    locked_first = {  # listed in this order: the refusal first, then the read that succeeds
        "vault": pool("acme", deployment={"namespace": "locked", "name": "vault"}),
        "web": pool("acme"),
    }
    scaler = make_scaler(config(locked_first))

    await observe_until(scaler, lambda states: "web" in states)
    for _ in range(3):  # tick after tick, the other namespace read every time
        await scaler.observe()
        assert scaler.api.refusals.refused.get("list deployments (apps)") == locked


async def test_a_scale_granted_on_one_deployment_does_not_grant_another_refused(
    web: KubernetesEmulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    """`agentdash rbac` names each Deployment: a pool added since is refused its scale while
    the pools beside it scale. /healthz keeps the refusal listed until the new one's scale
    goes through, not until any scale does."""
    web.objects[DEPLOYMENTS, "agents", "late"] = deployment("late", replicas=0)
    late = (
        'deployments.apps "late" is forbidden: User "system:serviceaccount:agentdash:agentdash" '
        'cannot patch resource "deployments/scale" in API group "apps" in the namespace "agents"'
    )
    refusal = refuse("PATCH", "/apis/apps/v1/namespaces/agents/deployments/late/scale", 403, late)
    web.faults.append(refusal)
    scaler = make_scaler(config({"web": pool("acme"), "late": pool("acme")}))
    await observe_until(scaler, lambda states: {"web", "late"} <= states.keys())

    with pytest.raises(PoolUnavailable):
        await scaler.scale("late", 2)
    await scaler.scale("web", 3)  # granted by name

    assert scaler.api.refusals.refused.get("patch deployments/scale (apps)") == late
    web.faults.remove(refusal)  # the operator ran `agentdash rbac` again
    scaler._discovery.refused.clear()
    await scaler.scale("late", 2)
    assert scaler.api.refusals.refused == {}
