"""What the live loop holds after hours: its own memory over HOURS of virtual time.

The loop of benchmarks/live_tick.py (the Reconciler with the daemon's Metrics, the sources
answering from memory, CHANGING of the pools given a new queue reading every tick), ticked
once a virtual second for HOURS hours in seconds of real time. The memory the loop holds is
what tracemalloc traces (started before the loop is made), after a full collection, every
EVERY_H hours: each pool's windows, history, timeline and keep-alive fill to their bounds in
the first hours, and should then stay level however long the daemon runs.

    python benchmarks/loop_memory.py [--pools N] [--hours H] [--changing FRACTION]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import tracemalloc

import live_tick

from controller.runtime.loop import Reconciler
from controller.runtime.metrics import Metrics

EVERY_H = 1.0


async def measure(pools: int, hours: float) -> None:
    tracemalloc.start()
    config = live_tick.fleet(pools, False, False, False)
    source = live_tick.Memory(config, random.Random(7))
    now = [1_000_000.0]
    loop = Reconciler(config, source, source, source, clock=lambda: now[0])
    metrics = Metrics(config)
    events = loop.bus.subscribe()
    every = int(EVERY_H * 3600)
    for second in range(int(hours * 3600) + 1):
        source.move()
        await loop._tick(None, settle=True)  # as `run` ticks
        while not events.empty():
            metrics.observe(events.get_nowait())
        now[0] += 1.0
        if second % every == 0:
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
            print(f"hour {second / 3600:4.1f}: {held / 1e6:6.2f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", type=int, default=40)
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--changing", type=float, default=0.25)
    args = parser.parse_args()
    live_tick.CHANGING = args.changing
    print(f"{args.pools} pools, {args.changing:.0%} with a new reading every tick")
    asyncio.run(measure(args.pools, args.hours))


if __name__ == "__main__":
    main()
