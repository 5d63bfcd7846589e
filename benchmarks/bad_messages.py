"""A flood of bad usage reports: what dropping them costs, and what it does to the loop.

First the handler alone (controller.sources.usage.check_report) on a good report and on typical bad
ones. Then a real nats-server (embedded) and the live Reconciler on the simulated cluster,
ticking every 50 ms, while another process publishes FLOOD poisoned reports as fast as it can:
how many were checked and how many dropped unread (the tenant sends more than its rate,
controller.sources.report_intake), the CPU this process spent meanwhile, the longest gap
between two ticks (against the same loop with no flood), and how many log lines it made.

    python benchmarks/bad_messages.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import timeit

import nats

from agentdash.nats_server import NatsServer
from controller.actuators.simcluster import SimulatedCluster
from controller.core.bad_messages import BadMessages
from controller.core.config import Config, parse_config
from controller.core.events import TickEvent
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import NatsUsageSource, check_report

FLOOD = 100_000
GOOD = b'{"tenant": "acme", "pool": "research", "tokens": 500, "work_s": 20.0}'
BAD = {
    "good report": GOOD,
    "work_s Infinity": b'{"tenant": "acme", "pool": "research", "tokens": 1, "work_s": Infinity}',
    "unknown pool": b'{"tenant": "acme", "pool": "nope", "tokens": 1, "work_s": 1}',
    "invalid UTF-8": b"\xff\xfe junk",
    "4 KiB of [": b"[" * 4096,
    "1 MB body": b'{"task": "' + b"x" * 1_000_000 + b'"}',
}


SENDER = f"""
import asyncio, os, sys, nats
async def main():
    nc = await nats.connect(os.environ["NATS_URL"], pending_size=64 * 1024 * 1024)
    for _ in range({FLOOD}):
        await nc.publish("agentdash.usage.acme", {BAD["work_s Infinity"]!r})
    await nc.flush()
    await nc.close()
asyncio.run(main())
"""


def fleet() -> Config:
    return parse_config({
        "tiers": {"t": {"priority": 1}}, "tenants": {"acme": {"tier": "t"}},
        "controller": {"interval_seconds": 0.05},
        "pools": {"research": {"tenant": "acme", "deployment": {"name": "research"},
                               "queue": {"stream": "AGENT_TASKS", "consumer": "research"}}},
    })  # fmt: skip


def handler_costs(config: Config) -> None:
    for name, body in BAD.items():
        n, total = timeit.Timer(lambda body=body: check_report(body, "agentdash.usage.acme",
                                                               config)).autorange()  # fmt: skip
        print(f"  check_report, {name:16} {total / n * 1e6:9.1f} us")


async def max_tick_gap(loop: Reconciler, seconds: float) -> tuple[float, int]:
    ticks = loop.bus.subscribe()
    last, gap, count = time.perf_counter(), 0.0, 0
    deadline = last + seconds
    while time.perf_counter() < deadline:
        event = await ticks.get()
        if isinstance(event, TickEvent):
            now = time.perf_counter()
            gap, last, count = max(gap, now - last), now, count + 1
    loop.bus.unsubscribe(ticks)
    return gap, count


async def flood() -> None:
    config = fleet()
    lines: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = lines.append  # type: ignore[method-assign]
    logging.getLogger("agentdash.bad_messages").addHandler(handler)
    with NatsServer() as server:
        nc = await nats.connect(server.url)
        await ensure_queues(nc, config)
        lag = JetStreamLagSource(nc, config)
        await lag.start()
        bad = BadMessages()
        usage = NatsUsageSource(nc, config, clock=time.time, bad=bad)
        await usage.start()
        cluster = SimulatedCluster(config)
        loop = Reconciler(config, lag, usage, cluster)
        stop = asyncio.Event()
        runner = asyncio.create_task(loop.run(stop))
        quiet_gap, quiet_ticks = await max_tick_gap(loop, 2.0)

        started, cpu = time.perf_counter(), time.process_time()
        # The flood comes from another process, as it would: only the controller is measured.
        sending = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SENDER, env=os.environ | {"NATS_URL": server.url}
        )
        gap_task = asyncio.create_task(max_tick_gap(loop, 3.0))
        await sending.wait()
        sent_in, cpu = time.perf_counter() - started, time.process_time() - cpu
        flood_gap, flood_ticks = await gap_task
        stop.set()
        await runner
        await lag.stop()
        await cluster.close()
        await nc.close()
    print(
        f"  {FLOOD} poisoned reports sent in {sent_in:.2f} s: {bad.counts['usage']} checked,"
        f" {bad.counts['flood']} dropped unread; this process's CPU {cpu:.2f} s"
        f" ({cpu / sent_in:.0%} of a core), {len(lines)} log line(s)"
    )
    print(f"  longest gap between ticks (interval 50 ms): {quiet_gap * 1000:.0f} ms quiet "
          f"({quiet_ticks} ticks in 2 s), {flood_gap * 1000:.0f} ms in the flood "
          f"({flood_ticks} ticks in 3 s)")  # fmt: skip


def main() -> None:
    print("handler, per message:")
    handler_costs(fleet())
    print("flood, on a real nats-server:")
    asyncio.run(flood())


if __name__ == "__main__":
    main()
