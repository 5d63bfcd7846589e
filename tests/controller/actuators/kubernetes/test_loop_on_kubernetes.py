"""The real reconcile loop with a DeploymentScaler on the emulated API and a real JetStream:
it scales what it may, holds what it may not, and never stops for the cluster's trouble."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import nats
import pytest
from kmock import KubernetesEmulator
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.actuators.kubernetes import ANNOTATION, DeploymentScaler
from controller.coordination.lease import NatsLease
from controller.core.config import Config
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.kmock import (
    DEPLOYMENTS,
    HPAS,
    PODS,
    SCALED_OBJECTS,
    MakeScaler,
    deployment,
    hpa,
    nowhere,
    pod,
    scaled_object,
)
from tests.support.loops import publish

UP_AT_ONCE = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 10, "period_seconds": 10},
    "scale_down": {"stabilization_seconds": 0, "max_pods": 10, "period_seconds": 10},
}


@pytest.fixture
def fleet() -> Config:
    return config({"web": pool("acme", behavior=UP_AT_ONCE), "legacy": pool("acme")})


@pytest.fixture
async def lag(nc: Client, fleet: Config, clock: FakeClock) -> AsyncIterator[JetStreamLagSource]:
    await ensure_queues(nc, fleet)
    source = JetStreamLagSource(nc, fleet, clock=clock)
    await source.start()
    yield source
    await source.stop()


async def test_the_loop_scales_through_the_api_and_holds_the_hpas_deployment(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=0)
    cluster.objects[DEPLOYMENTS, "agents", "legacy"] = deployment("legacy", replicas=2)
    cluster.objects[HPAS, "agents", "legacy"] = hpa("legacy", "legacy")
    scaler: DeploymentScaler = make_scaler(fleet, annotate=True)
    loop = Reconciler(fleet, lag, TokenLedger(fleet), scaler, clock=clock)
    await publish(nc, fleet.subject("web"), 3)
    await publish(nc, fleet.subject("legacy"), 9)

    decisions = {d.pool: d for d in await loop.tick()}

    assert (decisions["web"].current, decisions["web"].desired) == (0, 3)
    assert decisions["legacy"].held
    patches = [(r.url.path, r.data) for r in cluster["patch"] if r.url.path.endswith("/scale")]
    assert patches == [
        ("/apis/apps/v1/namespaces/agents/deployments/web/scale", {"spec": {"replicas": 3}})
    ]
    assert "HorizontalPodAutoscaler agents/legacy" in scaler.problems["legacy"]
    assert loop.problems == {}
    # `kubectl describe` shows why: the loop scales through scale_with_reason
    annotations = cluster.objects[DEPLOYMENTS, "agents", "web"]["metadata"]["annotations"]
    assert json.loads(annotations[ANNOTATION])["rule"] == "demand"
    # the operator sees why the other pool is left alone
    (legacy_again,) = [d for d in await loop.tick() if d.pool == "legacy"]
    assert "HorizontalPodAutoscaler agents/legacy" in legacy_again.main_reason.detail


async def test_the_hpas_pool_shows_its_replicas_and_they_count_against_the_cluster(
    cluster: KubernetesEmulator, make_scaler: MakeScaler, nc: Client, clock: FakeClock
) -> None:
    """An HPA scales legacy, so agentdash leaves it alone: its Fleet row read REPLICAS 0/0/0
    while it ran 4 pods, and those 4 were not counted against the cluster's max_pods, so web
    was given them too."""
    fleet = config({"web": pool("acme", behavior=UP_AT_ONCE), "legacy": pool("acme")}, max_pods=6)
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=0)
    cluster.objects[DEPLOYMENTS, "agents", "legacy"] = deployment("legacy", replicas=4, ready=3)
    for n in range(4):
        cluster.objects[PODS, "agents", f"legacy-{n}"] = pod(
            f"legacy-{n}", "legacy", phase="Running", ready=n < 3
        )
    cluster.objects[HPAS, "agents", "legacy"] = hpa("legacy", "legacy")
    await ensure_queues(nc, fleet)
    lag = JetStreamLagSource(nc, fleet, clock=clock)
    await lag.start()
    try:
        loop = Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet), clock=clock)
        await publish(nc, fleet.subject("web"), 9)
        decisions = {d.pool: d for d in await loop.tick()}
        row = {r.name: r for r in loop.snapshot().pools}["legacy"]
    finally:
        await lag.stop()

    assert decisions["web"].desired == 2  # what the cluster has left beside legacy's 4
    assert (row.replicas, row.desired, row.ready) == (4, 4, 3)
    assert row.state == "left alone"
    assert "scaled by HorizontalPodAutoscaler agents/legacy" in row.state_detail
    assert not [r for r in cluster["patch"] if "/legacy" in r.url.path]


async def test_a_pool_left_to_its_hpa_keeps_the_daemon_ready_and_is_said_once(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nc: Client,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Moving a fleet over, an operator leaves legacy to its HPA: its Deployment is read and
    its replicas kept, which is no fault of the daemon's. It said 'pools STALE' and /healthz
    answered 503 after 5 s, so a rollout of agentdash waited on that pool for good."""
    fleet = config({"web": pool("acme"), "legacy": pool("acme")})
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    cluster.objects[DEPLOYMENTS, "agents", "legacy"] = deployment("legacy", replicas=2)
    cluster.objects[HPAS, "agents", "legacy"] = hpa("legacy", "legacy")
    await ensure_queues(nc, fleet)
    lag = JetStreamLagSource(nc, fleet, clock=clock)
    await lag.start()
    caplog.set_level("INFO", logger="agentdash")
    try:
        loop = Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet), clock=clock)
        for _ in range(12):
            await loop.tick()
            clock.advance(1)
    finally:
        await lag.stop()

    assert loop.health.ready()
    assert "pools" not in loop.health.report(len(fleet.pools))
    lines = [r.getMessage() for r in caplog.records]
    said = [line for line in lines if "left to another autoscaler" in line]
    assert len(said) == 1
    assert "HorizontalPodAutoscaler agents/legacy" in said[0]
    assert not [r for r in caplog.records if "held, data stale" in r.getMessage()]


async def test_tasks_for_a_pool_keda_keeps_at_zero_do_not_wake_the_loop(
    cluster: KubernetesEmulator, make_scaler: MakeScaler, nc: Client, clock: FakeClock
) -> None:
    """KEDA scales legacy, and keeps it at zero between bursts. Left alone, its replicas are
    read (0), and it was taken for an idle pool of agentdash's: each task published for it
    woke the loop for a tick at once, however long the interval, though agentdash would scale
    nothing. Only a pool agentdash scales is woken (web, at zero too)."""
    fleet = config({"web": pool("acme"), "legacy": pool("acme")}, interval=3600.0)
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=0)
    cluster.objects[DEPLOYMENTS, "agents", "legacy"] = deployment("legacy", replicas=0)
    cluster.objects[SCALED_OBJECTS, "agents", "legacy"] = scaled_object("legacy", "legacy")
    await ensure_queues(nc, fleet)
    lag = JetStreamLagSource(nc, fleet, clock=clock)
    await lag.start()
    woken: list[str] = []
    try:
        loop = Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet), clock=clock)
        await loop.tick()
        rows = {r.name: r for r in loop.snapshot().pools}
        assert rows["legacy"].state == "left alone"
        lag.watch_idle(loop.idle, woken.append)  # the wake-ups, as the loop's schedule has them
        await publish(nc, fleet.subject("legacy"), 3)
        await publish(nc, fleet.subject("web"), 1)  # delivered after legacy's
        await eventually(lambda: "web" in woken)
    finally:
        await lag.stop()

    assert woken == ["web"]
    assert "legacy" not in loop.idle


async def test_an_unreachable_cluster_holds_every_pool_and_the_loop_carries_on(
    make_scaler: MakeScaler, nc: Client, fleet: Config, lag: JetStreamLagSource, clock: FakeClock
) -> None:
    scaler = make_scaler(fleet, host=nowhere())
    loop = Reconciler(fleet, lag, TokenLedger(fleet), scaler, clock=clock)
    await publish(nc, fleet.subject("web"), 3)

    for _ in range(2):
        decisions = await loop.tick()
        clock.advance(1)

    assert all(d.held and not d.changes for d in decisions)
    assert loop.problems["cluster"].startswith("cannot read the cluster")


async def test_two_controllers_on_one_nats_and_one_api_only_the_leader_patches(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nats_server: NatsServer,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=0)
    loops, clients = [], []
    for name in ("first", "second"):
        client = await nats.connect(nats_server.url)
        clients.append(client)
        lease = NatsLease(client, name, ttl=1.5)
        await lease.start()
        loops.append(Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet),
                                clock=clock, lease=lease))  # fmt: skip
    first, second = loops
    await publish(nc, fleet.subject("web"), 4)
    for loop in loops:
        await loop.tick()
    assert (first.leading, second.leading) == (True, False)
    scale_patches = [r for r in cluster["patch"] if r.url.path.endswith("/web/scale")]
    assert [r.data for r in scale_patches] == [{"spec": {"replicas": 4}}]  # once, not twice

    # The first stops renewing (as if killed): the second takes over within the TTL.
    async def second_leads() -> bool:
        clock.advance(1)
        await second.tick()
        return second.leading

    await eventually(second_leads, timeout=5, every=0.1)
    await publish(nc, fleet.subject("web"), 4)
    clock.advance(1)
    await second.tick()
    scale_patches = [r for r in cluster["patch"] if r.url.path.endswith("/web/scale")]
    assert [r.data for r in scale_patches][-1] == {"spec": {"replicas": 8}}
    for client in clients:
        await client.close()
