"""Faults that last are reported the same way on every observation, and an outage of the
whole API is a SourceError, whatever some namespaces' permissions are."""

from __future__ import annotations

import logging

import pytest
from kmock import KubernetesError

from controller.actuators.kubernetes import PoolUnavailable, Timing
from controller.core.model import SourceError
from tests.support import eventually
from tests.support.kmock import (
    DEPLOYMENTS,
    Emulator,
    MakeScaler,
    deployment,
    observe_until,
    refuse,
    send,
    web_and_vault,
)

SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
DENIED = 'deployments.apps is forbidden: cannot list resource "deployments" in "locked"'


async def test_an_outage_is_a_source_error_even_when_a_namespace_is_forbidden(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    cfg = web_and_vault()
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web")
    cluster[cluster.namespace("locked")] << KubernetesError(403, "Forbidden", DENIED)
    down = KubernetesError(503, "ServiceUnavailable", "etcd cluster is unavailable")
    cluster[cluster.namespace("agents")] << down
    scaler = make_scaler(cfg)

    for _ in range(3):  # and the same on every tick
        with pytest.raises(SourceError, match="503 etcd cluster is unavailable"):
            await scaler.observe()
        # Each pool still says why: the forbidden one names its permissions.
        assert DENIED in scaler.problems["vault"]
        assert "agentdash rbac --config FILE" in scaler.problems["vault"]
        assert "503 etcd cluster is unavailable" in scaler.problems["web"]


async def test_a_write_that_keeps_failing_fails_alike_and_the_pool_stays_observed(
    cluster: Emulator, make_scaler: MakeScaler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentdash.kube")
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    failing = refuse("PATCH", SCALE_PATH, 500, "admission webhook failed")
    cluster.faults.append(failing)
    scaler = make_scaler()
    reasons = set()

    for _ in range(3):  # tick after tick
        states = await scaler.observe()
        assert states["web"].replicas == 2  # still observed: the next tick tries again
        with pytest.raises(PoolUnavailable) as failed:
            await scaler.scale("web", 5)
        reasons.add(failed.value.reason)
    # Each try is a debug line: at info, a lasting 500 was three lines a call for ever (the
    # loop's health tells the failure once, with a counter).
    retried = [r for r in caplog.records if "; try " in r.getMessage()]
    assert retried
    assert {r.levelno for r in retried} == {logging.DEBUG}

    assert reasons == {
        "cannot scale: patch deployments/scale agents/web: 500 admission webhook failed"
    }
    assert scaler.problems == {}  # nothing left out: the loop tells this pool's failure
    cluster.faults.remove(failing)
    await scaler.scale("web", 5)
    assert (await scaler.observe())["web"].replicas == 5


async def test_watches_that_keep_failing_while_lists_work_never_make_the_pool_flap(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    cluster[cluster.action.WATCH] << KubernetesError(500, "InternalError", "watch cache down")
    deployments = cluster.resource(DEPLOYMENTS)
    scaler = make_scaler(timing=Timing(retry_min_s=0.01, retry_max_s=0.02))
    seen = []

    async def listed_again() -> bool:
        seen.append((dict(await scaler.observe()), scaler.problems))
        return len(cluster[cluster.action.LIST, deployments]) >= 4

    await eventually(listed_again)

    assert {str(states) for states, _ in seen} == {str(seen[0][0])}
    assert all(problems == {} for _, problems in seen)
    # And the lists keep the cache current.
    await send(cluster, "PATCH", SCALE_PATH, {"spec": {"replicas": 4}})
    await observe_until(scaler, lambda s: s["web"].replicas == 4)


async def test_a_403_as_the_api_server_comes_back_is_asked_again_at_once(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    """A kube-apiserver just restarted refuses for a moment while its authorizer loads the
    RBAC rules. Taken as a lasting refusal, the Deployments were listed again only at the
    next recheck, a minute on: a pool was scaled 59 s after the server was back."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    listing = "/apis/apps/v1/namespaces/agents/deployments"
    cluster.faults.append(refuse("GET", listing, 503, "etcd cluster is unavailable", times=12))
    cluster.faults.append(refuse("GET", listing, 403, DENIED, times=1))
    scaler = make_scaler(timing=Timing(retry_min_s=0.01, retry_max_s=0.02, recheck_s=600))

    async def observed() -> bool:
        try:
            return "web" in await scaler.observe()
        except SourceError:  # the 503s: no namespace can be read
            return False

    await eventually(observed, timeout=10, every=0.01)


async def test_deployments_readable_again_after_an_outage_are_told_once(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    """The loop ticks when told (agentdash.runtime): the pools are scaled as the API server
    is back, not at the end of the loop's backoff grown through the outage."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    listing = "/apis/apps/v1/namespaces/agents/deployments"
    cluster.faults.append(refuse("GET", listing, 503, "etcd cluster is unavailable", times=5))
    scaler = make_scaler(timing=Timing(retry_min_s=0.01, retry_max_s=0.02))
    told: list[int] = []
    scaler.when_readable(lambda: told.append(1))

    async def observed() -> bool:
        try:
            return "web" in await scaler.observe()
        except SourceError:  # the 503s: no namespace can be read
            return False

    await eventually(observed, timeout=10, every=0.01)
    await send(cluster, "PATCH", SCALE_PATH, {"spec": {"replicas": 4}})  # a watch event
    await observe_until(scaler, lambda s: s["web"].replicas == 4)
    assert told == [1]
