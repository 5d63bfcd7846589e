"""A follower's ticks while the NATS that holds the leader's count of tokens today is stalled
(SIGSTOP: its connections open, nothing answered), on real nats-servers: the count is read
apart from the tick (controller.coordination.usage_handover.UsageHandover.follow)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.lease import NatsLease
from controller.coordination.usage_handover import SAVE_S, UsageHandover
from controller.core.config import Config
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import NatsUsageSource
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.processes import stalled

TICKS = 10
"""Ticks that each ask for the count (the loop's clock moves SAVE_S between them): waiting
out the read's 2 s timeout each, they would take 20 s."""


class Pauses:
    """The loop's sleep between ticks: it goes on when the test lets it, and the loop's clock
    moves on by the pause (every tick is due to ask for the count), never after a wait."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.ticks = 0
        """Ticks done: the loop pauses after each."""
        self._next = asyncio.Semaphore(0)

    async def sleep(self, seconds: float) -> None:
        self.ticks += 1
        await self._next.acquire()
        self.clock.advance(seconds)

    def let_go(self, ticks: int = 1) -> None:
        for _ in range(ticks):
            self._next.release()


async def counting(
    nc: Client, cfg: Config, clock: FakeClock
) -> tuple[NatsUsageSource, UsageHandover]:
    """The workers' reports counted, and the count handed over, as the daemon does."""
    usage = NatsUsageSource(nc, cfg, clock=clock)
    await usage.start()
    handover = UsageHandover(nc, cfg, usage.ledger)
    await handover.start()
    await handover.restore(clock())
    return usage, handover


async def test_a_followers_ticks_keep_their_interval_while_nats_does_not_give_the_count(
    nats_server: NatsServer, nc: Client, tmp_path: Path, clock: FakeClock
) -> None:
    """A follower read the leader's count of tokens today at the end of a tick, every 10 s:
    with NATS stalled, that tick waited out the read's 2 s timeout, and the dashboard and
    /healthz with it. Here the queues and the lease are on a second server that answers, so
    that the count's read is all a tick could wait for."""
    cfg = config({"research": pool("acme")}, interval=SAVE_S)
    leader, leader_handover = await counting(nc, cfg, clock)
    report = {"tenant": "acme", "pool": "research", "tokens": 1_234, "work_s": 3.0}
    await nc.publish("agentdash.usage.acme", json.dumps(report).encode())
    await nc.flush()
    await eventually(lambda: leader.usage(clock()).tokens_today["acme"] == 1_234)
    usage, handover = await counting(nc, cfg, clock)  # started after the report
    await leader_handover.save(clock())

    with NatsServer(tmp_path / "answers") as answering:
        other = await nats.connect(answering.url)
        try:
            await ensure_queues(other, cfg)
            lag = JetStreamLagSource(other, cfg, clock=clock)
            await lag.start()
            leading = NatsLease(other, "leader-1", ttl=3600)
            await leading.start()
            assert await leading.renew()
            watching = NatsLease(other, "dashboard-1", ttl=3600, contend=False)
            await watching.start()
            pauses = Pauses(clock)
            loop = Reconciler(cfg, lag, usage, SimulatedCluster(cfg, clock=clock), clock=clock,
                              lease=watching, usage_handover=handover, timer=clock,
                              sleep=pauses.sleep)  # fmt: skip
            stop = asyncio.Event()
            running = asyncio.create_task(loop.run(stop))
            try:

                def merged() -> bool:  # the leader's count, the report the follower missed
                    pauses.let_go()
                    return loop.snapshot().tokens_today == 1_234

                await eventually(merged, every=0.05)
                assert not loop.leading
                with stalled(nats_server):
                    ticked = pauses.ticks
                    pauses.let_go(TICKS)
                    await eventually(lambda: pauses.ticks >= ticked + TICKS)
                    assert loop.snapshot().tokens_today == 1_234  # the last known
            finally:
                stop.set()
                await running
                await handover.stop_following()
                await lag.stop()
        finally:
            await other.close()
