"""A Reconciler wired to a HistoryHandover as controller.runtime.loop is to be, and a leader to
kill.

    python -m tests.support.failover_leader NATS_URL [fleet|learner]

runs one on the real clock with the simulated cluster until it is killed: what
tests/controller/coordination/test_failover.py sends SIGKILL to.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import nats
import nats.aio.client

from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.handover import HistoryHandover
from controller.coordination.lease import NatsLease
from controller.core.config import Config
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger
from tests.support.factories import config, pool

BEHAVIOR = {
    "scale_up": {"policies": [{"type": "Pods", "value": 8, "period_seconds": 60}]},
    "scale_down": {
        "stabilization_seconds": 300,
        "policies": [{"type": "Percent", "value": 50, "period_seconds": 60}],
    },
}
LEASE_TTL_S = 1.5


def fleet(interval: float = 1.0) -> Config:
    """One pool: straight to its demand from zero; down after a 300 s window, 50% a minute."""
    research = pool("acme", max_replicas=10, cooldown_seconds=120, cold_start_seconds=0,
                    behavior=BEHAVIOR)  # fmt: skip
    return config({"research": research}, interval=interval)


class HandingOver(Reconciler):
    """A Reconciler with a handover (controller.runtime.loop restores when this process becomes the
    leader, before that tick decides, and saves at the end of each tick it leads), and the
    NATS connection a test drops as a dying process would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nc: nats.aio.client.Client | None = None

    async def close(self) -> None:
        """Drop the connection as a dying process does: the lease is left to expire."""
        if self.nc is not None:
            await self.nc.close()


async def connect(
    url: str,
    cfg: Config,
    holder: str,
    cluster: Any,
    clock: Callable[[], float] = time.time,
    **options: Any,
) -> HandingOver:
    """A controller with its own NATS connection, lease and handover, as a process has."""
    nc = await nats.connect(url)
    lag = JetStreamLagSource(nc, cfg, clock=clock)
    await lag.start()
    lease = NatsLease(nc, holder, ttl=LEASE_TTL_S)
    await lease.start()
    handover = HistoryHandover(nc, cfg)
    await handover.start()
    made = HandingOver(cfg, lag, TokenLedger(cfg), cluster, clock=clock, lease=lease,
                       handover=handover, **options)  # fmt: skip
    made.nc = nc
    return made


def learner(interval: float = 1.0) -> Config:
    """One pool on the default behavior: it learns its keep-alive from its own gaps."""
    research = pool("acme", max_replicas=10, cold_start_seconds=1)
    return config({"research": research}, interval=interval)


async def main(url: str, kind: str) -> None:
    cfg = learner(interval=0.1) if kind == "learner" else fleet(interval=0.1)
    nc = await nats.connect(url)
    await ensure_queues(nc, cfg)
    leader = await connect(url, cfg, "old", SimulatedCluster(cfg))
    await leader.run(asyncio.Event())  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "fleet"))
