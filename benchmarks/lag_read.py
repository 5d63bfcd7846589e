"""Reading every pool's lag on one tick, on a real embedded nats-server.

1,000 and 5,000 pools on one stream (set up by `ensure_queues`, as `agentdash queues --apply`
does), a fifth of them with tasks waiting and some tasks held by workers. Each case is read
REPEATS times and timed from the call to the answer:

- before: one consumer_info request per pool, run 32 at a time (how every tick read until
  now; `read(pools)` still reads a wake-up's few pools so);
- full listing: a fresh source's first read, which lists every page of the stream's
  consumers (256 a page);
- a tick with 1% of the pools moved: that many pools got a task since the last read, a
  second passed (the rotation lists its share of the pages);
- a tick with nothing moved: a second passed, no task came or went.

    python benchmarks/lag_read.py [POOLS ...]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.config import Config, parse_config
from controller.sources.jetstream import JetStreamLagSource, ensure_queues

REPEATS = 10
TICK_S = 1.0


class TickClock:
    """The source's clock, a second further at each tick (what it costs does not depend on
    the wall-clock time between ticks)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fleet(pools: int) -> Config:
    return parse_config(
        {
            "tiers": {"standard": {"priority": 1}},
            "tenants": {"t": {"tier": "standard"}},
            "pools": {
                f"p{i:05d}": {"tenant": "t", "deployment": {"name": f"p{i:05d}"},
                              "queue": {"stream": "AGENT_TASKS", "consumer": f"p{i:05d}"}}
                for i in range(pools)
            },
        }
    )  # fmt: skip


async def timed(
    read: Callable[[], Awaitable[object]], before: Callable[[], Awaitable[None]]
) -> str:
    times = []
    for _ in range(REPEATS):
        await before()
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
    return f"{min(times):6.1f} {statistics.median(times):6.1f} {max(times):6.1f}"


async def load(nc: Client, config: Config) -> None:
    """A task on every fifth pool; on every tenth, a worker holds it."""
    js = nc.jetstream()
    names = list(config.pools)
    for name in names[::5]:
        await js.publish(config.subject(name), b"{}")
    for name in names[::10]:
        sub = await js.pull_subscribe_bind(name, "AGENT_TASKS")
        await sub.fetch(1, timeout=5)


async def bench(pools: int) -> None:
    config = fleet(pools)
    with NatsServer() as server:
        nc = await nats.connect(server.url)
        started = time.perf_counter()
        await ensure_queues(nc, config)
        setup = time.perf_counter() - started
        await load(nc, config)
        js = nc.jetstream()
        clock = TickClock()
        names = list(config.pools)
        source = JetStreamLagSource(nc, config, clock=clock)

        async def nothing() -> None:
            clock.now += TICK_S

        async def fresh() -> None:
            nonlocal source
            source = JetStreamLagSource(nc, config, clock=clock)

        async def one_percent() -> None:
            clock.now += TICK_S
            for name in names[: max(1, pools // 100)]:
                await js.publish(config.subject(name), b"{}")

        print(f"{pools:,} pools (queues set up in {setup:.1f} s), ms: min median max")
        print(
            f"  before, consumer_info per pool   {await timed(lambda: source.read(names), nothing)}"
        )
        print(f"  after, full listing              {await timed(lambda: source.read(), fresh)}")
        await source.read()
        print(
            f"  after, a tick with 1% moved      {await timed(lambda: source.read(), one_percent)}"
        )
        print(f"  after, a tick with nothing moved {await timed(lambda: source.read(), nothing)}")
        await nc.close()


async def main(sizes: list[int]) -> None:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {REPEATS} reads each")
    for pools in sizes:
        await bench(pools)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main([int(n) for n in sys.argv[1:]] or [1000, 5000]))
