"""One outstanding call per pool, on the emulated API, fed by the real engine as the loop
feeds it: while the call waits for its turn in the budget, the pool's newest decision is the
one sent, a pool held meanwhile is never written, and nothing is sent that the Deployment
already has."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.actuators.kubernetes import DeploymentScaler
from controller.core.engine import Engine
from controller.core.events import EventBus, ScaleEvent
from controller.core.model import PoolObservation
from controller.runtime.actuation import ScaleCalls
from controller.runtime.health import SourceHealth
from tests.support import eventually
from tests.support.factories import config, pool
from tests.support.kmock import DEPLOYMENTS, Emulator, MakeScaler, crowd, deployment, send

SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
NOW = 1_000_000.0
AT_ONCE = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 100, "period_seconds": 1},
    "scale_down": {"stabilization_seconds": 0, "max_pods": 100, "period_seconds": 1},
}


class Loop:
    """ScaleCalls over the scaler, given each step's decisions as the live loop gives them
    (a change is acted on, a decision that changes nothing settles the pool)."""

    def __init__(self, scaler: DeploymentScaler) -> None:
        self.engine = Engine(
            config({"web": pool("acme", max_replicas=20, behavior=AT_ONCE)}), exact_reasons=True
        )
        bus = EventBus()
        self.events = bus.subscribe()
        self.health = SourceHealth(bus)
        self.calls = ScaleCalls(
            scaler, self.engine, self.health, bus, lease=None, leads=lambda: True, deadline=30.0
        )
        self.now = NOW
        self.started: list[asyncio.Task[None]] = []

    def step(self, **reading: Any) -> None:
        self.now += 1
        self.engine.read(0, PoolObservation(**{"ack_pending": 0, "ready": 1, **reading}))
        for i in self.engine.step(self.now):
            decision = self.engine.decision(i)
            if not decision.changes:
                self.calls.settled(decision.pool, self.now)
                continue
            call = self.calls.act(i, decision, self.now, dry_run=False)
            if call is not None:
                self.started.append(call)

    def scaled(self) -> list[tuple[int, int]]:
        seen = []
        while not self.events.empty():
            event = self.events.get_nowait()
            if isinstance(event, ScaleEvent):
                seen.append((event.old, event.new))
        return seen


def scale_patches(cluster: Emulator) -> list[int]:
    return [r.data["spec"]["replicas"] for r in cluster["patch"] if r.url.path == SCALE_PATH]


async def waiting_scaler(cluster: Emulator, make_scaler: MakeScaler) -> DeploymentScaler:
    """web at 1 replica, on a budget of 5 calls a second that discovery reads fill for 2 s
    from now: a scale call started now waits for its turn."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1, version="v0")
    scaler = make_scaler(qps=5.0, burst=1)
    await scaler.observe()
    crowd(scaler.api, 10)
    return scaler


async def test_a_pool_held_while_its_call_waits_is_never_written(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    scaler = await waiting_scaler(cluster, make_scaler)
    loop = Loop(scaler)
    loop.step(pending=5, replicas=1)  # wants 5: its call waits for its turn
    (call,) = loop.started
    await eventually(lambda: scaler.api.budget.waiting >= 5)

    loop.step(pending=5, replicas=1, stale="queue: no answer", stale_reads=1)  # held now
    await asyncio.wait_for(call, 30)

    assert scale_patches(cluster) == []
    assert cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 1
    assert loop.scaled() == []
    assert loop.health.problems == {}


async def test_the_newest_decision_is_the_one_sent(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    scaler = await waiting_scaler(cluster, make_scaler)
    loop = Loop(scaler)
    loop.step(pending=5, replicas=1)
    await eventually(lambda: scaler.api.budget.waiting >= 5)

    loop.step(pending=8, replicas=1)  # more work while it waits: the same call takes it
    loop.step(pending=9, replicas=1)
    await asyncio.wait_for(asyncio.gather(*loop.started), 30)

    assert len(loop.started) == 1  # one call for the pool
    assert scale_patches(cluster) == [9]
    assert cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 9
    assert loop.scaled() == [(1, 9)]  # told and counted as what was made


async def test_nothing_is_sent_that_the_deployment_already_has(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    scaler = await waiting_scaler(cluster, make_scaler)
    loop = Loop(scaler)
    loop.step(pending=5, replicas=1)
    (call,) = loop.started
    await eventually(lambda: scaler.api.budget.waiting >= 5)

    # Someone else (a person, a previous leader's late write) scales it to 5 meanwhile.
    await send(
        cluster,
        "PATCH",
        "/apis/apps/v1/namespaces/agents/deployments/web",
        {"spec": {"replicas": 5}},
    )

    async def seen() -> bool:
        return (await scaler.observe())["web"].replicas == 5

    await eventually(seen)
    assert not call.done()
    await asyncio.wait_for(call, 30)

    assert scale_patches(cluster) == []
    assert loop.scaled() == []  # not ours: not told as a scale, nor counted
    assert loop.health.problems == {}
