"""`run` keeps a fixed period: a tick's own cost does not push the next one back, a tick that
overruns is followed by the next at once (and no burst of missed ones), and a task reaching
an idle pool still wakes it between deadlines. A real JetStream lag source, whose reads take
time on an injected clock; the loop waits on that clock too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping

from nats.aio.client import Client

from controller.actuators.simcluster import SimulatedCluster
from controller.core.config import Config
from controller.core.events import TickEvent
from controller.core.model import QueueStats
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger
from tests.support import FakeClock
from tests.support.factories import config, pool


class ReadsThatTakeTime:
    """The real lag source, each read costing `cost(n)` seconds of the fake clock (the n-th
    read, from 0): a fleet large enough that reading takes a good part of the interval."""

    def __init__(
        self, source: JetStreamLagSource, clock: FakeClock, cost: Callable[[int], float]
    ) -> None:
        self.source = source
        self.clock = clock
        self.cost = cost
        self.reads: list[tuple[float, Collection[str] | None]] = []

    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        self.reads.append((self.clock.now, pools))
        stats = await self.source.read(pools)
        self.clock.advance(self.cost(len(self.reads) - 1))
        return stats

    def watch_idle(self, idle: set[str], wake: Callable[[str], None]) -> None:
        self.source.watch_idle(idle, wake)


async def run_until(
    nc: Client,
    cfg: Config,
    cost: Callable[[int], float],
    end: float,
    task_at: float | None = None,
) -> tuple[list[float], ReadsThatTakeTime]:
    """Run the loop until the fake clock reaches `end`; the start of each tick. `task_at`:
    while the loop waits across that time, a task reaches pool `research` (idle at zero)."""
    clock = FakeClock(0.0)
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg)
    await source.start()
    lag = ReadsThatTakeTime(source, clock, cost)
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        nonlocal task_at
        if task_at is not None and clock.now < task_at <= clock.now + seconds:
            clock.now, task_at = task_at, None
            await nc.jetstream().publish(cfg.subject("research"), b"{}")
            await asyncio.Event().wait()  # until the task wakes the loop (it cancels this)
        clock.advance(seconds)
        if clock.now >= end:
            stop.set()
        await asyncio.sleep(0)

    cluster = SimulatedCluster(cfg, clock=clock)
    loop = Reconciler(cfg, lag, TokenLedger(cfg), cluster, clock=clock, timer=clock, sleep=sleep)
    ticks = loop.bus.subscribe()
    try:
        await asyncio.wait_for(loop.run(stop), timeout=30)
    finally:
        await source.stop()
        await cluster.close()
    starts = []
    while not ticks.empty():
        event = ticks.get_nowait()
        if isinstance(event, TickEvent):
            starts.append(event.ts)
    return starts, lag


async def test_ticks_keep_their_period_whatever_a_tick_costs(nc: Client) -> None:
    cfg = config({"research": pool("acme")}, interval=1.0)

    starts, _ = await run_until(nc, cfg, cost=lambda _: 0.3, end=6.0)

    # Not 0, 1.3, 2.6, ...: sleeping a full interval after each tick lost 0.3 s a tick.
    assert starts == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


async def test_a_tick_that_overruns_is_followed_at_once_and_the_missed_ones_are_skipped(
    nc: Client,
) -> None:
    cfg = config({"research": pool("acme")}, interval=1.0)

    starts, _ = await run_until(nc, cfg, cost=lambda n: 2.5 if n == 2 else 0.25, end=8.0)

    # The third tick (from 2.0) ends at 4.5: the next starts then, not at 3.0 and 4.0 in a
    # burst, and the period holds again from there.
    assert starts == [0.0, 1.0, 2.0, 4.5, 5.5, 6.5, 7.5]


async def test_a_task_for_an_idle_pool_wakes_the_loop_between_deadlines(nc: Client) -> None:
    cfg = config({"research": pool("acme"), "coder": pool("acme")}, interval=10.0)

    starts, lag = await run_until(nc, cfg, cost=lambda _: 0.1, end=25.0, task_at=3.0)

    # Woken at 3.0, it reads just that pool; the period is not moved by it.
    assert starts == [0.0, 3.0, 10.0, 20.0]
    assert [pools for _, pools in lag.reads] == [None, {"research"}, None, None]
