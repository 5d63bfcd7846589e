"""Reading every pool's lag on one tick, on a real embedded nats-server.

1,000 and 5,000 pools on one stream (set up by `ensure_queues`, as `agentdash queues --apply`
does), a fifth of them with tasks waiting and some tasks held by workers. Each case is read
TICKS times (the first read and "before", once a second slower, FIRST_READS times), timed from
the call to the answer, with the collector set as the daemon sets it (`agentdash.daemon`: what
start-up built frozen, young collections every GC_THRESHOLD allocations; `--collector default`
for CPython's own); a collection that lands in a read is counted, and its time shown:

- before: one consumer_info request per pool, run 32 at a time (how every tick read until
  now; `read(pools)` still reads a wake-up's few pools so);
- full listing: a fresh source's first read, which lists every page of the stream's
  consumers (256 a page);
- a tick with 1% of the pools moved: that many pools got a task since the last read, a
  second passed (the rotation lists its share of the pages);
- a tick with nothing moved: a second passed, no task came or went.

    python benchmarks/lag_read.py [--collector daemon|default] [POOLS ...]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client

from agentdash.daemon import GC_THRESHOLD
from agentdash.nats_server import NatsServer
from controller.core.config import Config, parse_config
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues

TICKS = 100
FIRST_READS = 10
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


class Collections:
    """The collections that run while a read is timed, and how long each took (ms)."""

    def __init__(self) -> None:
        self.timing = False
        self.seen: list[tuple[int, float]] = []
        self._started = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.timing:
            self.seen.append((info["generation"], (time.perf_counter() - self._started) * 1000))

    def summary(self) -> str:
        if not self.seen:
            return "no collection"
        by_gen = {g: [ms for gen, ms in self.seen if gen == g] for g in (0, 1, 2)}
        return "collections " + ", ".join(
            f"gen{g} {len(ms)} (max {max(ms):.1f} ms)" for g, ms in by_gen.items() if ms
        )


COLLECTIONS: Collections


async def timed(
    read: Callable[[], Awaitable[object]], before: Callable[[], Awaitable[None]], repeats: int
) -> str:
    times = []
    COLLECTIONS.seen.clear()
    for _ in range(repeats):
        await before()
        COLLECTIONS.timing = True
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
        COLLECTIONS.timing = False
    times.sort()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    return (
        f"{times[0]:6.1f} {statistics.median(times):6.1f} {p95:6.1f} {times[-1]:6.1f}"
        f"  (n {repeats}; {COLLECTIONS.summary()}; load {os.getloadavg()[0]:.2f})"
    )


async def load(nc: Client, config: Config) -> None:
    """A task on every fifth pool; on every tenth, a worker holds it."""
    js = nc.jetstream()
    names = list(config.pools)
    for name in names[::5]:
        await js.publish(config.subject(name), b"{}")
    for name in names[::10]:
        sub = await js.pull_subscribe_bind(name, "AGENT_TASKS")
        await sub.fetch(1, timeout=5)


async def bench(pools: int, collector: str) -> None:
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

        await source.read()
        if collector == "daemon":
            gc.freeze()  # as the daemon does once started (agentdash.daemon)
            gc.set_threshold(GC_THRESHOLD)
        print(f"{pools:,} pools (queues set up in {setup:.1f} s), ms: min median p95 max")
        before = await timed(lambda: source.read(names), nothing, FIRST_READS)
        print(f"  before, consumer_info per pool   {before}")
        first = await timed(lambda: source.read(), fresh, FIRST_READS)
        print(f"  after, full listing              {first}")
        await source.read()
        print(f"  after, a tick with 1% moved      {await timed(source.read, one_percent, TICKS)}")
        print(f"  after, a tick with nothing moved {await timed(source.read, nothing, TICKS)}")
        gc.unfreeze()
        gc.set_threshold(700)
        await nc.close()


async def main(sizes: list[int], collector: str) -> None:
    global COLLECTIONS
    COLLECTIONS = Collections()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; collector {collector}")
    for pools in sizes:
        await bench(pools, collector)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pools", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--collector", choices=("daemon", "default"), default="daemon")
    args = parser.parse_args()
    asyncio.run(main(args.pools, args.collector))
