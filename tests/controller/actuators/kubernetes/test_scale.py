"""scale() and scale_with_reason(): the scale subresource is patched (never the Deployment's
spec), the decision is left on the Deployment, and failures are retried or reported."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import pytest
from kmock import KubernetesEmulator, KubernetesError

from controller.actuators.kubernetes import ANNOTATION, PoolUnavailable
from controller.core.model import Reason, ScaleDecision
from tests.support import FakeClock, eventually
from tests.support.kmock import (
    DEPLOYMENTS,
    SCALED_OBJECTS,
    MakeScaler,
    Naps,
    deployment,
    hang,
    refuse,
)

SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
NOW = 1767607200.0  # 2026-01-05T10:00:00Z

DEMAND = ScaleDecision(
    pool="web",
    tenant="acme",
    current=2,
    desired=5,
    reasons=(Reason(rule="demand", template="lag {} / {} per replica -> {}", args=(10, 2, 5)),),
)


@pytest.fixture
def web(cluster: KubernetesEmulator) -> KubernetesEmulator:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    return cluster


def scale_patches(cluster: KubernetesEmulator) -> list[object]:
    return [r.data for r in cluster["patch"] if r.url.path == SCALE_PATH]


async def test_scale_patches_the_scale_subresource_only(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler()
    await scaler.observe()

    await scaler.scale_with_reason("web", 5, DEMAND, NOW)

    assert scale_patches(web) == [{"spec": {"replicas": 5}}]
    assert len(web["patch"]) == 1  # by default, nothing else of the Deployment is written
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 5
    assert (await scaler.observe())["web"].replicas == 5


async def test_with_annotate_the_only_other_patch_is_the_annotation(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler(annotate=True)
    await scaler.observe()

    await scaler.scale_with_reason("web", 5, DEMAND, NOW)

    assert scale_patches(web) == [{"spec": {"replicas": 5}}]
    (annotate,) = [r for r in web["patch"] if r.url.path != SCALE_PATH]
    assert annotate.url.path == "/apis/apps/v1/namespaces/agents/deployments/web"
    assert list(annotate.data) == ["metadata"]
    assert list(annotate.data["metadata"]) == ["annotations"]


async def test_the_decision_is_left_on_the_deployment_for_kubectl_describe(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler(annotate=True)
    await scaler.observe()

    await scaler.scale_with_reason("web", 5, DEMAND, NOW)

    annotations = web.objects[DEPLOYMENTS, "agents", "web"]["metadata"]["annotations"]
    assert json.loads(annotations[ANNOTATION]) == {
        "desired": 5,
        "from": 2,
        "rule": "demand",
        "reason": "lag 10 / 2 per replica -> 5",
        "at": "2026-01-05T10:00:00Z",
    }
    annotate = next(r for r in web["patch"] if r.url.path.endswith("/deployments/web"))
    assert annotate.headers["Content-Type"] == "application/merge-patch+json"
    (event,) = [r.data for r in web["post"] if r.url.path.endswith("/events")]
    assert event["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "namespace": "agents",
        "uid": "uid-web",
    }
    assert event["reason"] == "AgentdashRescale"
    assert event["message"] == "New size: 5 (was 2); demand: lag 10 / 2 per replica -> 5"


async def test_plain_scale_annotates_without_a_reason(
    web: KubernetesEmulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    scaler = make_scaler(annotate=True)
    await scaler.observe()

    await scaler.scale("web", 3)

    annotations = web.objects[DEPLOYMENTS, "agents", "web"]["metadata"]["annotations"]
    assert json.loads(annotations[ANNOTATION]) == {
        "desired": 3,
        "from": 2,
        "at": datetime.fromtimestamp(clock.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_passing_error_is_retried_with_backoff_until_it_succeeds(
    web: KubernetesEmulator, make_scaler: MakeScaler, naps: Naps, status: int
) -> None:
    web.faults.append(refuse("PATCH", SCALE_PATH, status, "try again", times=2))
    scaler = make_scaler()
    await scaler.observe()

    await scaler.scale("web", 4)

    assert scale_patches(web) == [{"spec": {"replicas": 4}}] * 3
    # Exponential from 0.2 s, half of it jitter (0.5 injected here).
    assert naps.delays == [pytest.approx(0.15), pytest.approx(0.3)]
    assert (await scaler.observe())["web"].replicas == 4


async def test_a_429_waits_at_least_what_the_server_asks(
    web: KubernetesEmulator, make_scaler: MakeScaler, naps: Naps
) -> None:
    web.faults.append(
        refuse("PATCH", SCALE_PATH, 429, "slow down", times=1, headers={"Retry-After": "3"})
    )
    scaler = make_scaler(deadline_s=10.0)
    await scaler.observe()

    await scaler.scale("web", 4)

    assert naps.delays == [3.0]
    assert len(scale_patches(web)) == 2


async def test_a_wait_the_deadline_leaves_no_room_for_is_not_made(
    web: KubernetesEmulator, make_scaler: MakeScaler, naps: Naps
) -> None:
    web.faults.append(
        refuse("PATCH", SCALE_PATH, 429, "slow down", times=1, headers={"Retry-After": "5"})
    )
    scaler = make_scaler(deadline_s=2.0)
    await scaler.observe()

    with pytest.raises(PoolUnavailable, match="429 Retry-After 5: slow down"):
        await scaler.scale("web", 4)

    assert naps.delays == []  # failed at once, rather than after a wait past the deadline
    assert len(scale_patches(web)) == 1


async def test_a_request_that_times_out_is_retried(
    web: KubernetesEmulator, make_scaler: MakeScaler, naps: Naps
) -> None:
    web.faults.append(hang("PATCH", SCALE_PATH, times=1))  # stalled before it applies
    scaler = make_scaler(request_timeout_s=0.2)
    await scaler.observe()

    await scaler.scale("web", 4)

    assert len(scale_patches(web)) == 2
    assert len(naps.delays) == 1


async def test_retries_are_bounded_and_then_the_loop_is_told(
    web: KubernetesEmulator, make_scaler: MakeScaler, naps: Naps
) -> None:
    web.faults.append(refuse("PATCH", SCALE_PATH, 500, "etcd down"))
    scaler = make_scaler()
    await scaler.observe()

    with pytest.raises(PoolUnavailable, match="500 etcd down"):
        await scaler.scale("web", 4)

    assert len(scale_patches(web)) == 4
    assert len(naps.delays) == 3
    assert "web" in await scaler.observe()  # still observed: the next tick tries again


async def test_a_deployment_gone_since_the_last_watch_event_is_reported_not_retried(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler()
    await scaler.observe()
    del web.objects[DEPLOYMENTS, "agents", "web"]  # gone, and no watch event said so

    with pytest.raises(PoolUnavailable, match="Deployment agents/web not found"):
        await scaler.scale("web", 3)

    assert len(scale_patches(web)) == 1
    assert "web" not in await scaler.observe()
    assert scaler.problems == {"web": "Deployment agents/web not found"}


async def test_a_forbidden_scale_marks_the_pool_until_the_recheck(
    web: KubernetesEmulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    """The first 403 is asked again at the next tick (an API server just restarted refuses
    while it loads the RBAC rules); one that follows it waits the minute's recheck."""
    denied = 'deployments.apps "web" is forbidden: cannot patch resource "deployments/scale"'
    web["patch", web.subresource("scale")] << KubernetesError(403, "Forbidden", denied)
    scaler = make_scaler()
    await scaler.observe()

    with pytest.raises(PoolUnavailable, match="forbidden"):
        await scaler.scale("web", 3)
    assert (await scaler.observe())["web"].replicas == 2  # read, but not scaled:
    assert denied in scaler.problems["web"]
    clock.advance(1)
    await scaler.observe()
    assert "web" not in scaler.problems
    with pytest.raises(PoolUnavailable, match="forbidden"):
        await scaler.scale("web", 3)

    clock.advance(59)
    await scaler.observe()
    assert "web" in scaler.problems
    clock.advance(2)
    await scaler.observe()
    assert "web" not in scaler.problems  # asked again after a minute: RBAC may be fixed
    assert len(scale_patches(web)) == 2


async def test_a_403_as_the_api_server_comes_back_does_not_hold_the_pool_a_minute(
    web: KubernetesEmulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    """The pool's Deployment, kept from before the API server went away, lets the loop scale
    it as the server comes back: a 403 then is the authorizer still loading, and the next
    tick scales it."""
    denied = 'deployments.apps "web" is forbidden: cannot patch resource "deployments/scale"'
    scaler = make_scaler()
    await scaler.observe()
    await scaler.scale("web", 3)  # a scale that landed: the next 403 is a first one
    web.faults.append(refuse("PATCH", SCALE_PATH, 403, denied, times=1))

    with pytest.raises(PoolUnavailable, match="forbidden"):
        await scaler.scale("web", 4)
    clock.advance(1)

    assert "web" in await scaler.observe()
    await scaler.scale("web", 4)
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 4


async def test_dry_run_observes_but_never_writes(
    web: KubernetesEmulator, make_scaler: MakeScaler, caplog: pytest.LogCaptureFixture
) -> None:
    scaler = make_scaler(dry_run=True)
    assert (await scaler.observe())["web"].replicas == 2

    with caplog.at_level(logging.INFO, logger="agentdash.kube"):
        await scaler.scale_with_reason("web", 5, DEMAND, NOW)
        await scaler.scale("web", 0)

    assert len(web["patch"]) == len(web["post"]) == 0
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 2
    assert "dry-run: would scale Deployment agents/web from 2 to 5 (demand: lag 10" in caplog.text


async def test_a_request_beyond_the_rate_limit_waits_its_turn(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web.resources[SCALED_OBJECTS] = {}  # KEDA installed: 4 kinds, each listed then watched
    scaler = make_scaler(qps=0.001, burst=8)  # 8 at once, then one every 1000 s
    await scaler.observe()
    await eventually(lambda: len(web[web.action.WATCH]) == 4)  # the burst is spent

    with pytest.raises(TimeoutError):  # bounded only so the test ends: it would wait 1000 s
        await asyncio.wait_for(scaler.scale("web", 3), timeout=0.3)

    assert len(web["patch"]) == 0


async def test_an_annotation_refused_still_leaves_the_event(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    """Without `patch deployments`, the annotation is refused; why the pool scaled is still
    in its Event."""
    refused = 'cannot patch resource "deployments" in API group "apps"'
    web.faults.append(
        refuse("PATCH", "/apis/apps/v1/namespaces/agents/deployments/web", 403, refused)
    )
    scaler = make_scaler(annotate=True)
    await scaler.observe()

    await scaler.scale_with_reason("web", 5, DEMAND, NOW)

    (event,) = [r.data for r in web["post"] if r.url.path.endswith("/events")]
    assert event["message"] == "New size: 5 (was 2); demand: lag 10 / 2 per replica -> 5"
    assert ANNOTATION not in web.objects[DEPLOYMENTS, "agents", "web"]["metadata"].get(
        "annotations", {}
    )
