"""One hung call never stalls the loop, never delays another pool, and never lands for a
leader that has lost its lease: on the emulated API (a PATCH that never answers) and a real
JetStream."""

from __future__ import annotations

import asyncio
import logging
import re

import nats
import pytest
from kmock import KubernetesEmulator
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.coordination.lease import NatsLease
from controller.core.config import Config
from controller.core.events import HealthEvent, ScaleEvent
from controller.runtime.health import STEADY_S
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.usage import TokenLedger
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.kmock import DEPLOYMENTS, MakeScaler, deployment, hang, send

AT_ONCE = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 100, "period_seconds": 1},
    "scale_down": {"stabilization_seconds": 0, "max_pods": 100, "period_seconds": 1},
}


@pytest.fixture
def fleet() -> Config:
    return config({"web": pool("acme", behavior=AT_ONCE), "chat": pool("acme", behavior=AT_ONCE)})


def hang_scale_patches(cluster: KubernetesEmulator, pool: str) -> asyncio.Event:
    """Every PATCH of `pool`'s scale subresource is applied but not answered until the
    returned event is set (a server that did the work and lost the answer, or stalls)."""
    never = asyncio.Event()
    scale = f"/apis/apps/v1/namespaces/agents/deployments/{pool}/scale"
    cluster["patch", scale] << (lambda: never.wait())
    return never


def replicas(cluster: KubernetesEmulator, pool: str) -> int:
    return int(cluster.objects[DEPLOYMENTS, "agents", pool]["spec"]["replicas"])


def scale_patches(cluster: KubernetesEmulator, pool: str) -> list[int]:
    """The replicas asked for by each PATCH of `pool`'s scale subresource, in order."""
    scale = f"/apis/apps/v1/namespaces/agents/deployments/{pool}/scale"
    return [r.data["spec"]["replicas"] for r in cluster["patch"] if r.url.path == scale]


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "never applied"])
async def test_a_hung_patch_ends_at_its_deadline_and_is_read_back(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    applied: bool,
) -> None:
    """The API does the work and loses the answer, or never does it: either way the call
    ends at its deadline, and what became of it is read back before the pool is decided
    again. A change that landed is a scale like any other: logged once, told, counted."""
    for name in fleet.pools:
        cluster.objects[DEPLOYMENTS, "agents", name] = deployment(name, replicas=1)
    if applied:
        hang_scale_patches(cluster, "web")
    else:
        cluster.faults.append(
            hang("PATCH", "/apis/apps/v1/namespaces/agents/deployments/web/scale")
        )
    loop = Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet), clock=clock,
                      call_deadline=3.0)  # fmt: skip
    events = loop.bus.subscribe()
    for name in fleet.pools:
        for _ in range(3):
            await nc.publish(fleet.subject(name), b"{}")
    await nc.flush()

    # The tick waits for its calls, the hung one only until its deadline (the API never
    # answers it: without the deadline the tick would never end).
    with caplog.at_level(logging.INFO, logger="agentdash.kube"):
        await asyncio.wait_for(loop.tick(), timeout=30)

    assert replicas(cluster, "chat") == 3  # the other pool scaled all the same
    scaled = [(e.pool, e.old, e.new) for e in _drain(events) if isinstance(e, ScaleEvent)]
    said = [r.getMessage() for r in caplog.records if "scaled Deployment agents/web" in r.message]
    if applied:
        assert replicas(cluster, "web") == 3
        assert loop.problems == {}
        assert sorted(scaled) == [("chat", 1, 3), ("web", 1, 3)]
        (line,) = said
        assert line.endswith("(its answer was lost; read back, it had landed)")
    else:
        assert replicas(cluster, "web") == 1
        assert loop.problems["scale web"].endswith(
            "no answer within the 3 s deadline; read back: not applied"
        )
        assert scaled == [("chat", 1, 3)]
        assert said == []
    reads = [r for r in cluster["get"] if r.url.path.endswith("/web/scale")]
    assert len(reads) == 1
    if applied:  # and its reason is said, as for any scale
        await eventually(lambda: events_about(cluster, "web") == 1)


def events_about(cluster: KubernetesEmulator, name: str) -> int:
    posted = [r for r in cluster["post"] if r.url.path.endswith("/events")]
    return len([r for r in posted if r.data["involvedObject"]["name"] == name])


async def test_a_change_whose_answer_and_read_back_are_lost_is_told_once_the_watch_shows_it(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1, version="v0")
    cluster.objects[DEPLOYMENTS, "agents", "chat"] = deployment("chat", replicas=0)
    hang_scale_patches(cluster, "web")  # applied, never answered
    cluster.faults.append(hang("GET", "/apis/apps/v1/namespaces/agents/deployments/web/scale"))
    loop = Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet, deadline_s=1.0),
                      clock=clock, call_deadline=1.0)  # fmt: skip
    events = loop.bus.subscribe()
    for _ in range(3):
        await nc.publish(fleet.subject("web"), b"{}")
    await nc.flush()

    with caplog.at_level(logging.INFO, logger="agentdash.kube"):
        await asyncio.wait_for(loop.tick(), timeout=30)
        assert "whether it landed is not known yet" in loop.problems["scale web"]

        async def told() -> bool:
            clock.advance(1)
            await loop.tick()
            return any(isinstance(e, ScaleEvent) and e.pool == "web" for e in _drain(events))

        await eventually(told, timeout=10)
        for _ in range(int(STEADY_S) + 1):  # fine again, for long enough to say so
            clock.advance(1)
            await loop.tick()

    scaled = [r.getMessage() for r in caplog.records if "scaled Deployment agents/web" in r.message]
    assert scaled == [
        "scaled Deployment agents/web from 1 to 3 (demand: lag 3 (pending 3 + ack_pending 0) / 1 "
        "per replica -> 3) "
        "(its answer was lost; the watch shows it landed)"
    ]
    assert replicas(cluster, "web") == 3
    assert loop.problems == {}
    assert scale_patches(cluster, "web") == [3]  # and it was not sent again
    await eventually(lambda: events_about(cluster, "web") == 1)


async def test_a_pool_whose_every_call_hangs_stays_a_problem_tick_after_tick(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
) -> None:
    """Its PATCH and its read-back never answer: once it has failed for STEADY_S it is a
    problem at every tick after, never dropped while a new call waits (the issue's 'hung
    pool dropped out of the problems list')."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    cluster.objects[DEPLOYMENTS, "agents", "chat"] = deployment("chat", replicas=1)
    scale = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
    cluster.faults.extend([hang("PATCH", scale), hang("GET", scale)])
    loop = Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet, deadline_s=0.3),
                      clock=clock, call_deadline=0.3)  # fmt: skip
    for _ in range(3):
        await nc.publish(fleet.subject("web"), b"{}")
    await nc.flush()

    seen: list[bool] = []
    for _ in range(int(STEADY_S) + 6):
        await asyncio.wait_for(loop.tick(), timeout=30)
        seen.append("scale web" in loop.problems)
        clock.advance(1)

    first = seen.index(True)
    assert first <= STEADY_S + 1  # told once it had failed for STEADY_S
    assert all(seen[first:])  # and never dropped after
    assert "no answer" in loop.problems["scale web"]
    assert replicas(cluster, "web") == 1


async def test_scale_from_zero_stays_quick_while_another_pools_patch_hangs(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    cluster.objects[DEPLOYMENTS, "agents", "chat"] = deployment("chat", replicas=0)
    never = hang_scale_patches(cluster, "web")
    loop = Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet), call_deadline=30.0)
    events = loop.bus.subscribe()
    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(stop))
    try:
        for _ in range(3):  # web wants 3: its PATCH hangs, for up to 30 s
            await nc.publish(fleet.subject("web"), b"{}")
        await eventually(lambda: "web" in loop._acting, timeout=5)

        await nc.publish(fleet.subject("chat"), b"{}")  # chat, at zero, gets a task
        seen: list[object] = []

        def chat_scaled() -> bool:
            seen.extend(_drain(events))
            return any(isinstance(e, ScaleEvent) and e.pool == "chat" for e in seen)

        await eventually(chat_scaled, timeout=10, every=0.001)

        # chat woke, scaled and said so while web's call still hangs: it never waited.
        assert replicas(cluster, "chat") == 1
        assert "web" in loop._acting
        scaled = [(e.pool, e.new) for e in seen if isinstance(e, ScaleEvent)]
        assert scaled == [("chat", 1)]
    finally:
        stop.set()
        never.set()  # let the hung call end, so the loop's stop does not wait its 30 s
        await running


async def test_a_leader_whose_call_outlives_its_lease_never_lands_it(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nats_server: NatsServer,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
) -> None:
    """The issue's split brain: the leader's PATCH stalls past the lease's TTL. Its call is
    cut before the lease can lapse, so when another takes over, the old decision is gone:
    only the new leader's patches land."""
    for name in fleet.pools:
        cluster.objects[DEPLOYMENTS, "agents", name] = deployment(name, replicas=5)
    scale = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
    never = hang("PATCH", scale)  # the API is stuck before it applies anything
    cluster.faults.append(never)
    clients, loops = [], []
    for name in ("old", "new"):
        client = await nats.connect(nats_server.url)
        clients.append(client)
        lease = NatsLease(client, name, ttl=1.5)
        await lease.start()
        loops.append(Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet), clock=clock,
                                lease=lease, call_deadline=10.0))  # fmt: skip
    old, new = loops
    try:
        await nc.publish(fleet.subject("web"), b"{}")
        await nc.publish(fleet.subject("web"), b"{}")
        await nc.flush()
        await old.tick(settle=False)  # leads; wants web 5 -> 2, and its PATCH hangs
        assert old.leading
        await asyncio.wait([old._acting["web"]])  # the old leader stalls: it ticks no more

        # The call was cut at what was surely left of the lease (under 1.35 s), not at its
        # 10 s deadline: it cannot outlive the lease.
        found = re.search(r"no answer within the ([0-9.]+) s deadline", old.problems["scale web"])
        assert found is not None
        assert float(found[1]) < 1.5

        async def new_leads() -> bool:
            clock.advance(1)
            await new.tick()
            return new.leading

        await eventually(new_leads, timeout=5, every=0.1)
        asked_before = len(scale_patches(cluster, "web"))
        cluster.faults.remove(never)  # the API answers again
        for _ in range(8):
            await nc.publish(fleet.subject("web"), b"{}")
        await nc.flush()

        async def new_scales() -> bool:  # once the stream has counted the 8 new tasks
            clock.advance(1)
            await new.tick()
            return len(scale_patches(cluster, "web")) > asked_before

        await eventually(new_scales, timeout=10, every=0.1)
        clock.advance(1)
        await old.tick()  # it wakes up: its lease is gone, it follows and patches nothing
        await old.settle()

        assert not old.leading
        # Since the new leader took over, every PATCH was its own: no retry of the old
        # leader's 5 -> 2 landed over it (before the fix: up to 4 tries of 10 s each).
        assert scale_patches(cluster, "web")[asked_before:] == [10]
        assert replicas(cluster, "web") == 10
    finally:
        for client in clients:
            await client.close()


def _drain(queue: asyncio.Queue[object]) -> list[object]:
    found = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


async def test_a_missing_deployment_is_told_once_and_holds_only_its_pool(
    cluster: KubernetesEmulator,
    make_scaler: MakeScaler,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "chat"] = deployment("chat", replicas=1)
    loop = Reconciler(fleet, lag, TokenLedger(fleet), make_scaler(fleet), clock=clock)
    events = loop.bus.subscribe()
    for _ in range(3):
        await nc.publish(fleet.subject("chat"), b"{}")
    await nc.flush()

    for _ in range(int(STEADY_S) + 2):  # web's Deployment does not exist: a lasting fault
        decisions = {d.pool: d for d in await loop.tick()}
        clock.advance(1)
        assert "not found" in loop.stale["web"]
        assert not decisions["web"].changes
    assert replicas(cluster, "chat") == 3  # chat scales all the same
    health = [e for e in _drain(events) if isinstance(e, HealthEvent)]
    assert [(e.source, e.ok) for e in health] == [("pool web", False)]  # told once, not a tick

    await send(cluster, "POST", "/apis/apps/v1/namespaces/agents/deployments",
               deployment("web", replicas=0))  # fmt: skip

    async def found() -> bool:
        clock.advance(1)
        await loop.tick()
        return "web" not in loop.stale

    await eventually(found, timeout=5)
    for _ in range(int(STEADY_S) + 1):  # fresh again, for long enough to say so
        clock.advance(1)
        await loop.tick()
    health = [e for e in _drain(events) if isinstance(e, HealthEvent)]
    assert [(e.source, e.ok, e.detail) for e in health] == [("pool web", True, "recovered")]
