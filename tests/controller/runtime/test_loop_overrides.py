"""The loop with operators' overrides, on a real NATS JetStream with the simulated cluster and
an injected clock: a paused pool, a pin that expires (logged, audited, no flap), dry-run told
once per would-be change, and a header that names pools held for their own missing data."""

from __future__ import annotations

import asyncio
import logging

import pytest
from nats.aio.client import Client

from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.overrides import OverrideStore
from controller.core.events import ActionEvent, Event, ScaleEvent
from controller.core.history import History
from controller.core.model import Observations, Overrides, Pin, PoolObservation
from controller.core.policy import decide
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.usage import TokenLedger
from tests.support import FakeClock
from tests.support.factories import config, pool
from tests.support.loops import fleet, make_loop, publish


def drain(queue: asyncio.Queue[Event]) -> list[Event]:
    found = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


def actions(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.who, e.action, e.target) for e in events if isinstance(e, ActionEvent)]


async def test_a_paused_pool_stays_where_it_was_and_its_tasks_stay_queued(
    nc: Client, clock: FakeClock
) -> None:
    cfg = fleet()
    loop, cluster = await make_loop(nc, cfg, clock)
    await publish(nc, cfg.subject("research"), 3)
    (d,) = await loop.tick()
    assert d.desired == 3
    loop.store.pause_pool("research", None, None)
    await publish(nc, cfg.subject("research"), 7)  # lag 10: it would go to 7 (rate limit)
    for _ in range(5):
        clock.advance(30)
        (d,) = await loop.tick()
        assert (d.current, d.desired) == (3, 3)
    assert loop.snapshot().pools[0].state == "paused"
    loop.store.pause_pool("research", 0, 60)  # to zero for a minute: the queue keeps all 10
    clock.advance(1)
    (d,) = await loop.tick()
    assert (d.current, d.desired) == (3, 0)
    info = await nc.jetstream().consumer_info("AGENT_TASKS", "research")
    assert info.num_pending == 10
    clock.advance(60)
    (d,) = await loop.tick()  # the pause is over: the backlog brings it back
    assert d.desired > 0
    assert loop.store.current().paused_pools == {}
    await cluster.close()


async def test_an_expired_pin_is_logged_and_audited_once_and_only_by_the_leader(
    nc: Client, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentdash.loop")
    cfg = fleet()
    loop, cluster = await make_loop(nc, cfg, clock)
    audited: list[str] = []
    loop.store.listeners.append(lambda _, event, __: audited.append(event.action))
    events = loop.bus.subscribe()
    loop.store.pin("research", 2, 30)
    (d,) = await loop.tick()
    assert d.desired == 2
    snapshot = loop.snapshot()
    assert (snapshot.pools[0].state, snapshot.pools[0].pin_until) == ("pinned 30s", clock.now + 30)
    clock.advance(12)
    assert loop.snapshot().pools[0].state == "pinned 18s"  # counts down between ticks too
    clock.advance(18)
    await loop.tick()
    await loop.tick()
    assert actions(drain(events)) == [("agentdash", "pin expired", "research")]
    assert audited == ["pin", "pin expired"]
    assert loop.store.current().pins == {}
    assert "pin expired research (2 replicas, pinned by " in caplog.text
    await cluster.close()

    follower = Reconciler(cfg, loop.lag, TokenLedger(cfg), SimulatedCluster(cfg, clock=clock),
                          clock=clock, store=OverrideStore(cfg, clock=clock))  # fmt: skip
    follower.leading = False  # another process leads: it ends the pin, and the KV tells us
    follower.store.pin("research", 2, 1)
    clock.advance(5)
    await follower.tick()
    assert "research" in follower.store.current().pins


def test_a_pin_ends_without_a_flap_under_a_steady_stream() -> None:
    """A pool pinned at 2 with a steady stream that 2 pods just keep up with: when the pin
    ends, and when the down window lets go, it stays at 2. (It went 2 -> 1 -> 2: at 1 the
    cold-start lookahead asked for 2, at 2 the lag rule for 1, each time a window let go.)"""
    behavior = {"scale_down": {"stabilization_seconds": 10, "max_pods": 3, "period_seconds": 5}}
    cfg = config({"support": pool("acme", target_lag_per_replica=3, min_replicas=1,
                                  cooldown_seconds=15, cold_start_seconds=2,
                                  behavior=behavior)})  # fmt: skip
    clock = FakeClock()
    history = History(cfg)
    pins = Overrides(pins={"support": Pin(2, clock.now + 5, "alice")})
    replicas = 0
    seen = []
    for _ in range(60):
        # 1 task a second, 2 s each: 2 at work, 2 waiting, whatever the replicas
        obs = PoolObservation(
            pending=2,
            ack_pending=1,
            replicas=replicas,
            ready=replicas,
            arrival_rate=1.0,
            mean_task_seconds=2.0,
        )
        observations = Observations({"support": obs})
        (d,) = decide(cfg, observations, pins, history, clock.now)
        history.record_tick([d], observations, clock.now)
        if d.changes:
            history.record_scale("support", clock.now, d.current, d.desired)
            replicas = d.desired
        seen.append(replicas)
        clock.advance(1)
    assert seen == [2] * 60


async def test_dry_run_tells_each_would_be_change_once(
    nc: Client, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentdash.loop")
    cfg = fleet()
    loop, cluster = await make_loop(nc, cfg, clock)
    events = loop.bus.subscribe()
    loop.store.set_dry_run(True)
    await publish(nc, cfg.subject("research"), 3)
    for _ in range(5):
        (d,) = await loop.tick()
        clock.advance(1)
    assert (d.current, d.desired) == (0, 3)
    await publish(nc, cfg.subject("research"), 2)
    for _ in range(5):
        await loop.tick()
        clock.advance(1)
    told = [e for e in drain(events) if isinstance(e, ScaleEvent)]
    assert [(e.old, e.new, e.dry_run, e.kind) for e in told] == [
        (0, 3, True, "dry-run"), (0, 5, True, "dry-run")]  # fmt: skip
    assert told[0].as_dict()["type"] == "dry-run"
    assert caplog.text.count("dry-run: research would scale") == 2
    assert cluster.scale_calls == []
    row = loop.snapshot().pools[0]
    assert row.state == "dry-run 0→5"
    assert row.state_detail.startswith("dry-run: would scale 0 -> 5 (demand: lag 5")
    loop.store.set_dry_run(False)
    await loop.tick()
    assert [e.dry_run for e in drain(events) if isinstance(e, ScaleEvent)] == [False]
    assert cluster.scale_calls[-1][1:] == ("research", 5)
    await cluster.close()


async def test_the_header_names_the_pools_held_for_their_own_missing_data(
    nc: Client, clock: FakeClock
) -> None:
    """No source fails when a stream's consumers are gone, yet every pool is held: the
    snapshot's problems (the header's STALE list) say so, not only each pool's row."""
    cfg = config({"research": pool("acme"), "coder": pool("acme")})
    lag = JetStreamLagSource(nc, cfg, clock=clock)  # no queues made: no consumer exists
    await lag.start()
    cluster = SimulatedCluster(cfg, clock=clock)
    loop = Reconciler(cfg, lag, TokenLedger(cfg), cluster, clock=clock)
    await loop.tick()
    snapshot = loop.snapshot()
    assert "queue" not in snapshot.problems
    assert snapshot.problems["pools"] == (
        "2 of 2 held: research: consumer AGENT_TASKS/research not found (and 1 more)"
    )
    row = snapshot.pools[0]
    assert row.state == "stale"
    assert row.state_detail == (
        "stale: consumer AGENT_TASKS/research not found: holding 0 replicas"
    )
    await cluster.close()
