"""The reconcile loop on a real NATS JetStream with the simulated cluster."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import DiscardPolicy

from agentdash.nats_server import NatsServer
from controller.core.connections import PrometheusConfig
from controller.core.events import HealthEvent, ScaleEvent
from controller.sources.prometheus import PrometheusUsageSource
from controller.sources.usage import TokenLedger, UsageReport
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.loops import BEHAVIOR, fleet, make_loop, publish
from tests.support.prometheus import QueryApi, vector


async def test_the_first_task_wakes_an_idle_pool_without_waiting_for_a_tick(nc: Client) -> None:
    cfg = config({"research": pool("acme")}, interval=3600.0)  # a tick an hour: only a wake-up
    loop, cluster = await make_loop(nc, cfg, clock=lambda: 0.0)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop))
    await eventually(lambda: loop.decisions != {})  # the first tick: nothing to do
    assert cluster.scale_calls == []
    await publish(nc, cfg.subject("research"), 1)
    await eventually(lambda: cluster.scale_calls != [], timeout=5)
    assert cluster.scale_calls[0][1:] == ("research", 1)
    stop.set()
    await runner
    await cluster.close()


async def test_a_burst_rises_within_limits_and_falls_to_zero_after_cooldown(
    nc: Client, clock: FakeClock
) -> None:
    cfg = fleet()
    loop, cluster = await make_loop(nc, cfg, clock)
    events = loop.bus.subscribe()
    await publish(nc, cfg.subject("research"), 30)
    seen = []
    for _ in range(4):
        (d,) = await loop.tick()
        seen.append(d.desired)
        clock.advance(5)
    assert seen == [10, 10, 10, 10]  # woken from zero: straight to its demand (max_replicas)

    worker = await nc.jetstream().pull_subscribe_bind("research", "AGENT_TASKS")
    done = 0
    while done < 30:  # a fetch may return fewer than asked
        for msg in await worker.fetch(30 - done, timeout=2):
            await msg.ack_sync()
            done += 1
    replicas = []
    for _ in range(40):
        clock.advance(5)
        (d,) = await loop.tick()
        replicas.append(d.desired)
    assert replicas[-1] == 0
    ups = [e for e in _drain(events) if isinstance(e, ScaleEvent)]
    assert all(e.new - e.old <= 4 for e in ups if e.old > 0)
    assert all(e.old - e.new <= 2 for e in ups)
    last_busy = 15  # the fourth tick, the last that saw lag (seconds from the first)
    zero_at = 20 + 5 * (replicas.index(0) + 1)
    assert zero_at - last_busy >= 60  # the cooldown held the last replica
    assert replicas[replicas.index(0) - 1] <= 2  # 2 pods a step: 10, 8, ..., 2, 0
    assert ups[-1].reasons[-1].rule in ("rate limit", "demand", "cooldown", "stabilization")
    await cluster.close()


async def test_nats_dying_holds_replicas_and_the_loop_recovers(
    nats_server: NatsServer, nc: Client, clock: FakeClock
) -> None:
    cfg = fleet()
    loop, cluster = await make_loop(nc, cfg, clock)
    events = loop.bus.subscribe()
    await publish(nc, cfg.subject("research"), 6)
    (d,) = await loop.tick()
    assert d.desired == 6

    nats_server.stop()
    await eventually(lambda: not nc.is_connected)
    for _ in range(20):  # long past every window: still nothing scales down
        clock.advance(30)
        (d,) = await loop.tick()
        assert (d.current, d.desired) == (6, 6)
        assert d.main_reason.rule == "stale"
    assert "queue" in loop.problems
    assert cluster.scale_calls[-1][2] == 6

    nats_server.start()
    await eventually(lambda: nc.is_connected, timeout=15)
    clock.advance(1)
    (d,) = await loop.tick()
    assert loop.problems == {}
    assert d.main_reason.rule != "stale"
    health = [e for e in _drain(events) if isinstance(e, HealthEvent)]
    assert [(e.source, e.ok) for e in health] == [("queue", False), ("queue", True)]
    await cluster.close()


async def test_an_outage_is_not_idle_time_for_the_first_reading_after_it(
    nats_server: NatsServer, nc: Client, clock: FakeClock
) -> None:
    """A pool seen idle just before NATS went away for 10 minutes is not scaled down by the
    first reading after it: its producers' retries arrive as NATS answers again, and went
    to a pool just scaled down (1 -> 0, then 0 -> 1 within the second, a cold start each).
    The cooldown and the scale-down window count from the last tick NATS did not answer;
    a backlog still scales up at once."""
    cfg = fleet()  # a 60 s cooldown, a 20 s scale-down window, 2 pods a step down
    loop, cluster = await make_loop(nc, cfg, clock)
    await publish(nc, cfg.subject("research"), 6)
    (d,) = await loop.tick()
    assert d.desired == 6
    worker = await nc.jetstream().pull_subscribe_bind("research", "AGENT_TASKS")
    for msg in await worker.fetch(6, timeout=2):
        await msg.ack_sync()
    clock.advance(1)
    (d,) = await loop.tick()  # idle now, held by the window
    assert (d.current, d.desired, d.main_reason.rule) == (6, 6, "stabilization")

    nats_server.stop()
    await eventually(lambda: not nc.is_connected)
    for _ in range(20):
        clock.advance(30)
        (d,) = await loop.tick()
        assert (d.desired, d.main_reason.rule) == (6, "stale")
    nats_server.start()
    await eventually(lambda: nc.is_connected, timeout=15)
    clock.advance(1)
    (d,) = await loop.tick()
    assert loop.problems == {}
    assert (d.current, d.desired) == (6, 6), d.reasons
    clock.advance(25)  # the window, counted from the outage's last tick, is over
    (d,) = await loop.tick()
    assert d.desired == 4
    await publish(nc, cfg.subject("research"), 10)
    clock.advance(1)
    (d,) = await loop.tick()
    assert d.desired == 10
    await cluster.close()


async def test_tasks_the_stream_refuses_are_a_problem_until_it_stores_one_again(
    nc: Client, clock: FakeClock
) -> None:
    """A stream that refuses every publish (here full, `discard: new`; its server's disk full
    does the same) left its pools reading idle and said nothing but the bad messages' line a
    minute: with nats-server's disk full, /healthz said 200 and the dashboard every pool
    idle, for as long as every producer's publish failed."""
    cfg = fleet()
    loop, cluster = await make_loop(nc, cfg, clock)
    js = nc.jetstream()
    stream = (await js.stream_info("AGENT_TASKS")).config
    await js.update_stream(replace(stream, max_msgs=1, discard=DiscardPolicy.NEW))
    await publish(nc, cfg.subject("research"), 1)  # stored: the stream is full
    await loop.tick()
    for refused in range(1, 26):
        clock.advance(1)
        with contextlib.suppress(nats.js.errors.APIError):
            await publish(nc, cfg.subject("research"), 1)
        await loop.tick()
        if refused < 10:
            assert "tasks" not in loop.problems  # a few refused are usual (retried ids)
    assert loop.problems["tasks"].startswith(
        "JetStream stores none of the tasks published for research (for 20 s or more)"
    )
    assert loop.health.ready()  # a producer's refused publishes hold up no rollout
    await js.update_stream(replace(stream, max_msgs=-1))
    await publish(nc, cfg.subject("research"), 1)  # stored again
    for _ in range(2):  # a read to see it, one to show it stored
        clock.advance(1)
        await loop.tick()
    assert "tasks" not in loop.problems
    await cluster.close()


async def test_a_pool_with_a_fallback_goes_up_to_it_after_failed_reads_and_never_down(
    nats_server: NatsServer, nc: Client, clock: FakeClock
) -> None:
    """KEDA's fallback: after `failure_threshold` stale reads in a row, the pool goes to
    `replicas`; one already above it holds (missing data never scales a pool down)."""
    fallback = {"failure_threshold": 3, "replicas": 4}
    cfg = config({
        "low": pool("acme", behavior=BEHAVIOR, cold_start_seconds=0, fallback=fallback),
        "high": pool("acme", behavior=BEHAVIOR, cold_start_seconds=0, fallback=fallback),
        "plain": pool("acme", behavior=BEHAVIOR, cold_start_seconds=0),
    })  # fmt: skip
    loop, cluster = await make_loop(nc, cfg, clock)
    await publish(nc, cfg.subject("low"), 1)
    await publish(nc, cfg.subject("high"), 6)
    await publish(nc, cfg.subject("plain"), 1)
    decided = {d.pool: d.desired for d in await loop.tick()}
    assert decided == {"low": 1, "high": 6, "plain": 1}

    nats_server.stop()
    await eventually(lambda: not nc.is_connected)
    seen = []
    for _ in range(4):
        clock.advance(1)
        seen.append({d.pool: (d.desired, d.main_reason.rule) for d in await loop.tick()})
    assert [s["low"] for s in seen] == [(1, "stale"), (1, "stale"), (4, "fallback"), (4, "stale")]
    assert all(s["high"] == (6, "stale") for s in seen)
    assert all(s["plain"] == (1, "stale") for s in seen)
    assert cluster.scale_calls[-1][1:] == ("low", 4)  # the only call while NATS was down
    await cluster.close()


def _drain(queue: asyncio.Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def test_a_tenant_past_warn_at_is_paced_when_its_burn_would_overspend(
    nc: Client, clock: FakeClock
) -> None:
    tenants = {"acme": {"tier": "enterprise", "daily_token_budget": 700_000, "warn_at": 0.5}}
    cfg = config({"research": pool("acme", cold_start_seconds=0)}, tenants)
    loop, cluster = await make_loop(nc, cfg, clock)
    assert isinstance(loop.usage, TokenLedger)
    await publish(nc, cfg.subject("research"), 8)
    (d,) = await loop.tick()
    assert d.desired == 1  # a hard cap: what its tasks cost is learned first
    assert "no task of this pool reported yet" in d.main_reason.detail
    for _ in range(12):  # its workers report 50 tasks of 1,000 tokens a minute
        clock.advance(60)
        for _ in range(50):
            report = UsageReport(tenant="acme", pool="research", tokens=1_000, work_s=30.0)
            loop.usage.add(report, clock())
        (d,) = await loop.tick()
    # 600,000 used, 100,000 left, and 3,000,000 an hour would spend five times that in the
    # 11 minutes ahead that its burn was seen over: paced, to the replicas that spend the
    # share of it that what is left pays for.
    assert d.main_reason.rule == "budget warning"
    (pace,) = (r.detail for r in d.reasons if "(budget pace)" in r.detail)
    assert "100,000 left" in pace
    assert "its last 11 min" in pace
    assert "read 11 min ahead" in pace
    assert d.desired < 8
    await cluster.close()


async def test_token_counts_gone_stale_make_the_process_not_ready_and_say_so(
    nc: Client, clock: FakeClock
) -> None:
    cfg = fleet()
    async with QueryApi() as api:
        api.answer = vector(({"tenant": "acme"}, "4200"))
        tokens = PrometheusUsageSource(cfg, PrometheusConfig(url=api.url))
        loop, cluster = await make_loop(nc, cfg, clock, usage=tokens)
        events = loop.bus.subscribe()
        await tokens.refresh()
        await loop.tick()
        assert loop.problems == {}
        assert loop.health.ready()

        api.answer = {"status": "error", "errorType": "internal", "error": "out of memory"}
        await tokens.refresh()
        clock.advance(1)
        await loop.tick()
        assert "out of memory" in loop.problems["tokens"]
        assert not loop.health.ready()

        api.answer = vector(({"tenant": "acme"}, "4300"))
        await tokens.refresh()
        clock.advance(1)
        await loop.tick()
        assert loop.problems == {}
        assert loop.health.ready()
    health = [e for e in _drain(events) if isinstance(e, HealthEvent)]
    assert [(e.source, e.ok) for e in health] == [("tokens", False), ("tokens", True)]
    await cluster.close()


async def test_a_hard_cap_whose_tokens_were_never_counted_does_not_grow_until_they_are(
    nc: Client, clock: FakeClock
) -> None:
    """A daemon started while Prometheus fails had no count at all, and applied no budget:
    a hard-capped tenant past its cap went 0 -> 14 pods. A soft cap is left to run."""
    tenants = {
        "acme": {"tier": "enterprise", "daily_token_budget": 50_000, "hard_cap": True},
        "globex": {"tier": "growth", "daily_token_budget": 50_000, "hard_cap": False},
    }
    pools = {"capped": pool("acme", cold_start_seconds=0), "soft": pool("globex")}
    cfg = config(pools, tenants)
    async with QueryApi() as api:
        api.answer = {"status": "error", "errorType": "unavailable", "error": "starting up"}
        tokens = PrometheusUsageSource(cfg, PrometheusConfig(url=api.url))
        loop, cluster = await make_loop(nc, cfg, clock, usage=tokens)
        await tokens.refresh()
        await publish(nc, cfg.subject("capped"), 8)
        await publish(nc, cfg.subject("soft"), 8)
        decided = {d.pool: d for d in await loop.tick()}
        assert decided["capped"].desired == 0
        said = decided["capped"].main_reason
        assert said.rule == "budget uncounted"
        assert "its tokens today are not known" in said.detail
        assert "starting up" in said.detail
        assert decided["soft"].desired > 0

        api.answer = vector(({"tenant": "acme"}, "1000"), ({"tenant": "globex"}, "0"))
        await tokens.refresh()
        clock.advance(1)
        decided = {d.pool: d for d in await loop.tick()}
        assert decided["capped"].desired > 0  # counted, and under its cap: it grows
    await cluster.close()
