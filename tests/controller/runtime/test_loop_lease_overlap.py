"""A tick renews the lease while it reads the sources (controller.runtime.loop): with NATS
stalled, a follower's tick waited out the queue read's deadline and then the lease's, one
after the other (4.5 s a tick); it waits for the longer of the two."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

from nats.aio.client import Client

from controller.coordination.lease import NatsLease
from controller.sources.base import QueueStats
from controller.sources.jetstream import JetStreamLagSource
from tests.support import FakeClock, eventually
from tests.support.loops import fleet, make_loop


class HeldLag:
    """The real lag source, whose reads wait until the test lets them answer."""

    def __init__(self, lag: JetStreamLagSource) -> None:
        self.lag = lag
        self.reading = asyncio.Event()
        self.answer = asyncio.Event()

    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        self.reading.set()
        await self.answer.wait()
        return await self.lag.read(pools)


async def test_the_lease_is_renewed_while_the_queue_read_waits(
    nc: Client, clock: FakeClock
) -> None:
    cfg = fleet()
    loop, _ = await make_loop(nc, cfg, clock)
    held = HeldLag(loop.reads.lag)  # type: ignore[arg-type]
    loop.reads.lag = held  # type: ignore[assignment]
    lease = NatsLease(nc, "leader-1", ttl=10)
    await lease.start()
    renewals: list[bool] = []
    renew = lease.renew

    async def counted() -> bool:
        renewals.append(await renew())
        return renewals[-1]

    lease.renew = counted  # type: ignore[method-assign]
    loop.lease = lease
    ticking = asyncio.create_task(loop.tick())
    await held.reading.wait()
    await eventually(lambda: renewals == [True])  # while the read still waits
    assert not ticking.done()
    held.answer.set()
    await ticking
    assert loop.leading
