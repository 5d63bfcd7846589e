"""What a flood of large tasks costs the process that watches them arrive.

The lag source (controller.sources.jetstream) subscribes to each pool's task subject to count
arrivals; nats.py keeps each message whole until its callback reads the subject. Here, on a
real embedded nats-server: POOLS pools watched on a connection of their own (as the daemon
does), a producer in another process publishing tasks of TASK_BYTES round-robin to every
pool's subject as fast as it can for SECONDS, and the watching process's loop busy for
BUSY_S in every second (a slow tick: the callbacks wait while the bytes keep coming). Printed:
the watcher's peak RSS, the peak bytes its subscriptions held and how often the server cut
its connection as a slow consumer, with the bound the pools share (`arrival_buffer`), and
with `--each-64mib`, nats.py's default of 64 MiB a subscription.

    python benchmarks/arrival_flood.py [--pools N] [--seconds S] [--task-bytes B] [--each-64mib]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import nats
from daemon_idle import fleet

import controller.sources.jetstream as jetstream
from agentdash.nats_server import NatsServer
from controller.core.config import parse_config
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues


def _with_url(url: str) -> dict[str, str]:
    """The environment with the server's URL: its token never on a command line (/proc)."""
    return os.environ | {"NATS_URL": url}


TASK_BYTES = 1_000_000
BUSY_S = 0.5
PRODUCER = """
import asyncio, os, sys, time
import nats
async def main(url, subjects, seconds):
    nc = await nats.connect(url)
    body, end, n = b"x" * int(sys.argv[3]), time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for subject in subjects:
            await nc.publish(subject, body)
            n += 1
        await nc.flush()
    await nc.close()
    print(n)
asyncio.run(main(os.environ["NATS_URL"], sys.argv[1].split(","), float(sys.argv[2])))
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def flood(pools: int, seconds: float, size: int) -> tuple[float, float, float, str, int]:
    with NatsServer() as server:
        config = parse_config(fleet(pools, server.url))
        nc = await nats.connect(server.url)
        cut: list[Exception] = []

        async def cut_off(exc: Exception) -> None:  # the server cutting a slow consumer
            cut.append(exc)

        watch = await nats.connect(server.url, error_cb=cut_off, max_reconnect_attempts=-1)
        await ensure_queues(nc, config)
        source = JetStreamLagSource(nc, config, arrivals=watch)
        await source.start()
        subjects = ",".join(config.subject(name) for name in config.pools)
        before = rss_mb()
        producer = subprocess.Popen(  # noqa: ASYNC220 (started, never waited on here)
            [sys.executable, "-c", PRODUCER, subjects, str(seconds), str(size)],
            stdout=subprocess.PIPE, text=True, env=_with_url(server.url),
        )  # fmt: skip
        peak_rss = peak_held = 0.0
        while producer.poll() is None:
            time.sleep(BUSY_S)  # noqa: ASYNC251 (the loop held on purpose: a slow tick)
            end = time.monotonic() + 1.0 - BUSY_S
            while time.monotonic() < end:  # what the subscriptions hold as the loop reads
                held = sum(sub.pending_bytes for sub in source._subscriptions)
                peak_held = max(peak_held, held / 1e6)
                await asyncio.sleep(0.005)
            peak_rss = max(peak_rss, rss_mb())
        published = producer.communicate()[0].strip()
        await source.stop()
        await watch.close()
        await nc.close()
    return before, peak_rss, peak_held, published, len(cut)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pools", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--each-64mib", action="store_true", help="nats.py's default bound")
    parser.add_argument("--task-bytes", type=int, default=TASK_BYTES)
    args = parser.parse_args()
    if args.each_64mib:
        jetstream.arrival_buffer = lambda pools, max_payload: 64 * 1024**2  # type: ignore[assignment]
    before, rss, held, published, cut = asyncio.run(
        flood(args.pools, args.seconds, args.task_bytes)
    )
    bound = "64 MiB a subscription" if args.each_64mib else "the pools' shared bound"
    print(
        f"{args.pools} pools, {published} tasks of {args.task_bytes:,} bytes in "
        f"{args.seconds:g} s, "
        f"{bound}: RSS {before:.0f} MB before, {rss:.0f} MB at the peak; "
        f"the subscriptions held {held:.0f} MB at the peak; the server cut the watcher's "
        f"connection {cut} times (a slow consumer)"
    )


if __name__ == "__main__":
    main()
