"""Scale-from-zero reaction: publish one task to an idle pool, time until the scale call.

A real nats-server (embedded), the live Reconciler with its JetStream lag source, and an
actuator that records when `scale` is called. 100 tries, each on a different idle pool of a
100-pool fleet, with the controller ticking every second as configured: the reaction comes
from the wake-up on the pool's subject, not from the tick. KEDA's reaction is bounded by its
polling interval instead (30 s by default).

    python benchmarks/scale_from_zero.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Mapping

import nats

from agentdash.nats_server import NatsServer
from controller.core.config import Config, parse_config
from controller.core.model import PoolState
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger

POOLS = 100


class StopwatchActuator:
    def __init__(self, config: Config) -> None:
        self.replicas = dict.fromkeys(config.pools, 0)
        self.scaled: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def observe(self) -> Mapping[str, PoolState]:
        return {p: PoolState(r, r) for p, r in self.replicas.items()}

    async def scale(self, pool: str, replicas: int) -> None:
        self.scaled.setdefault(pool, time.perf_counter())
        self.replicas[pool] = replicas
        self.changed.set()

    async def close(self) -> None:
        return None


def fleet() -> Config:
    return parse_config(
        {
            "tiers": {"standard": {"priority": 1}},
            "tenants": {"t": {"tier": "standard"}},
            "controller": {"interval_seconds": 1},
            "pools": {
                f"p{i:03d}": {"tenant": "t", "deployment": {"name": f"p{i:03d}"},
                              "queue": {"stream": "AGENT_TASKS", "consumer": f"p{i:03d}"}}
                for i in range(POOLS)
            },
        }
    )  # fmt: skip


async def main() -> None:
    config = fleet()
    with NatsServer() as server:
        nc = await nats.connect(server.url)
        await ensure_queues(nc, config)
        lag = JetStreamLagSource(nc, config)
        await lag.start()
        actuator = StopwatchActuator(config)
        loop = Reconciler(config, lag, TokenLedger(config), actuator)
        stop = asyncio.Event()
        runner = asyncio.create_task(loop.run(stop))
        await asyncio.sleep(1.5)  # let the first ticks settle every pool at zero
        js = nc.jetstream()
        latencies = []
        for pool in config.pools:
            actuator.changed.clear()
            sent = time.perf_counter()
            await js.publish(config.subject(pool), b"{}")
            await asyncio.wait_for(actuator.changed.wait(), timeout=10)
            latencies.append(actuator.scaled[pool] - sent)
        stop.set()
        await runner
        await nc.close()
    latencies.sort()
    ms = [x * 1e3 for x in latencies]
    print(
        f"scale from zero over {len(ms)} tries ({POOLS} pools, 1 s tick): "
        f"p50 {statistics.median(ms):.1f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, "
        f"max {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
