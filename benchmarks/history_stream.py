"""The event history stream's costs, on a real nats-server (controller.coordination.history_stream).

    python benchmarks/history_stream.py [--runs 5] [--events 5000]

- offer: what publishing adds to the tick, per event (it only appends to a buffer), with
  NATS up and with NATS stopped (an outage must cost the tick nothing more);
- publish: events a second the publisher's own task appends to the stream;
- replay: how long a dashboard that attaches waits for the last `--events` events.

Each figure is run `--runs` times; min / median / max are printed, with the load average,
since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import nats

from agentdash.nats_server import NatsServer
from controller.coordination.history_stream import HistoryPublisher, HistoryReader
from controller.core.events import ScaleEvent
from controller.core.model import Reason


def events(count: int, start: float) -> list[ScaleEvent]:
    template = "lag {} (pending {} + ack_pending {}) / 2 per replica -> {}"
    why = (Reason(rule="demand", template=template, args=(14, 12, 2, 7)),)
    return [ScaleEvent(start + i * 0.001, f"pool-{i % 2000:04d}", i % 7, i % 7 + 1, why)
            for i in range(count)]  # fmt: skip


async def offer_cost(publisher: HistoryPublisher, batch: list[ScaleEvent]) -> float:
    """Microseconds per offer (the publisher's task is not running: nothing drains)."""
    started = time.perf_counter()
    for event in batch:
        publisher.offer(event, leading=True)
    return (time.perf_counter() - started) / len(batch) * 1e6


async def one_run(server: NatsServer, count: int) -> dict[str, float]:
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    batch = events(count, time.time())
    try:
        idle = HistoryPublisher(nc, "bench", size=count * 2)
        up = await offer_cost(idle, batch)

        publisher = HistoryPublisher(nc, "bench", size=count * 2)
        publisher.start()
        started = time.perf_counter()
        for event in batch:
            publisher.offer(event, leading=True)
        await publisher.stop(wait=60)  # returns once all are in the stream
        rate = count / (time.perf_counter() - started)
        assert publisher.published == count, "events were not published"

        reader = HistoryReader(nc, last=count)
        started = time.perf_counter()
        await reader.start(wait=60)
        replay = time.perf_counter() - started
        assert len(reader.take()) == count, "the replay missed events"
        await reader.stop()

        server.stop()
        down = await offer_cost(HistoryPublisher(nc, "bench", size=count * 2), batch)
        server.start()
        return {"offer, NATS up (µs/event)": up, "offer, NATS down (µs/event)": down,
                "publish (events/s)": rate, f"replay of {count} (s)": replay}  # fmt: skip
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as store:
            server = NatsServer(Path(store)).start()
            try:
                for name, value in asyncio.run(one_run(server, args.events)).items():
                    results.setdefault(name, []).append(value)
            finally:
                server.close()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, {args.runs} runs")
    for name, values in results.items():
        print(f"{name:32} min {min(values):10.2f}  median {statistics.median(values):10.2f}"
              f"  max {max(values):10.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
