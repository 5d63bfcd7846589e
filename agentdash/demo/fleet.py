"""The embedded demo fleet: a real nats-server, the example config, a seeded workload, the
simulated cluster running agent workers, and the live controller, all in one process.

`DemoFleet` is used by `agentdash demo` (headless, or under the dashboard) and by the tests.
It never drops a task: on stop, workers nak what they hold, and what is left stays in
JetStream; the summary accounts for every task published.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from agentdash.demo.worker import AgentWorker, Ledger
from agentdash.demo.workload import Task, tasks
from agentdash.nats_server import NatsServer
from controller.config import Config
from controller.events import EventBus, ScaleEvent
from controller.jetstream import JetStreamLagSource, ensure_queues
from controller.loop import Reconciler
from controller.overrides import OverrideStore
from controller.simcluster import SimulatedCluster
from controller.usage import NatsUsageSource

EARLIER_TODAY = {"initech": 950_000, "globex": 2_400_000}
"""Tokens the demo tenants 'used earlier today', so budget lines show within a minute."""


@dataclass(slots=True)
class DemoOptions:
    config: Config
    seed: int = 7
    duration: float | None = 60.0
    """Seconds of workload; None repeats the cycle until stopped."""
    drain: bool = False
    nats_url: str | None = None
    speed: float = 1.0
    """Time runs this many times faster for the workload and the work (tests use > 1)."""
    cold_start: float | None = None
    """Override every pool's cold start (seconds); None keeps the config's."""
    overrides: Path | None = None
    """Where operator overrides persist; None keeps them in memory only."""


@dataclass(slots=True)
class Summary:
    published: int = 0
    completed: int = 0
    lost: int = 0
    remaining: int = 0
    redelivered: int = 0
    peak_replicas: dict[str, int] = field(default_factory=dict)
    scale_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"type": "summary", "published": self.published, "completed": self.completed,
                "lost": self.lost, "remaining": self.remaining, "redelivered": self.redelivered,
                "peak_replicas": self.peak_replicas, "scale_events": self.scale_events}  # fmt: skip


class DemoFleet:
    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.config = options.config
        self.bus = EventBus(size=10_000)
        self.ledger = Ledger()
        self.published: set[str] = set()
        self.summary = Summary(peak_replicas=dict.fromkeys(self.config.pools, 0))
        self.server: NatsServer | None = None
        self.nc: Client | None = None
        self.loop: Reconciler | None = None
        self.cluster: SimulatedCluster | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._events = self.bus.subscribe()
        self.workload_done = asyncio.Event()

    async def start(self) -> None:
        url = self.options.nats_url
        if url is None:
            self.server = NatsServer().start()
            url = self.server.url
        self.nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        await ensure_queues(self.nc, self.config)
        lag = JetStreamLagSource(self.nc, self.config)
        await lag.start()
        usage = NatsUsageSource(self.nc, self.config, time.time)
        usage.ledger.preload(EARLIER_TODAY, time.time())
        await usage.start()
        worker = AgentWorker(self.nc, self.config, self.ledger, self.options.speed)
        cold = self.options.cold_start
        self.cluster = SimulatedCluster(
            self.config,
            worker=worker,
            cold_start=None if cold is None else (lambda pool: cold),
        )
        store = OverrideStore(self.config, self.options.overrides)
        self.loop = Reconciler(self.config, lag, usage, self.cluster, bus=self.bus, store=store)
        self._tasks.append(asyncio.create_task(self._publish(), name="workload"))

    async def run_loop(self, stop: asyncio.Event) -> None:
        assert self.loop is not None
        await self.loop.run(stop)

    async def _publish(self) -> None:
        assert self.nc is not None
        js = self.nc.jetstream()
        start = time.monotonic()
        cycles = None if self.options.duration is None else 1
        cycle_s = 60.0 if self.options.duration is None else self.options.duration
        for task in tasks(self.config, self.options.seed, cycle_s, cycles):
            delay = task.at / self.options.speed - (time.monotonic() - start)
            if delay > 0:
                await asyncio.sleep(delay)  # the workload's own schedule, not a test wait
            await self._send(js, task)
        self.workload_done.set()

    async def _send(self, js: Any, task: Task) -> None:
        while True:
            try:
                await js.publish(self.config.subject(task.pool), task.payload())
                self.published.add(task.id)
                return
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(0.2)  # NATS is reconnecting: the task waits, never drops

    def drain_events(self, sink: Callable[[ScaleEvent], None] | None = None) -> None:
        """Fold queued scale events into the summary (and hand each to `sink`)."""
        while not self._events.empty():
            event = self._events.get_nowait()
            if isinstance(event, ScaleEvent) and not event.dry_run:
                self.summary.scale_events += 1
                peak = self.summary.peak_replicas
                peak[event.pool] = max(peak[event.pool], event.new)
                if sink is not None:
                    sink(event)

    async def queued(self) -> int:
        """Tasks still in JetStream (pending + unacknowledged) over every pool."""
        assert self.loop is not None
        stats = await self.loop.lag.read()
        return sum(s.pending + s.ack_pending for s in stats.values())

    async def stop(self) -> Summary:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.cluster is not None:
            await self.cluster.close()  # workers finish or nak what they hold
        remaining = 0
        if self.nc is not None and self.nc.is_connected and self.loop is not None:
            await self.nc.flush()
            remaining = await self._settled_queue()
        summary = self.summary
        summary.published = len(self.published)
        summary.completed = len(self.ledger.completed & self.published)
        summary.remaining = remaining
        summary.redelivered = self.ledger.redelivered
        summary.lost = summary.published - summary.completed - remaining
        if self.nc is not None:
            await self.nc.close()
        if self.server is not None:
            self.server.close()
        return summary

    async def _settled_queue(self) -> int:
        """Queued tasks once the naks of stopping workers have landed (a few ms)."""
        deadline = time.monotonic() + 5
        count = await self.queued()
        while time.monotonic() < deadline:
            expected = len(self.published) - len(self.ledger.completed & self.published)
            if count >= expected:
                break
            await asyncio.sleep(0.05)
            count = await self.queued()
        return count


def default_overrides() -> Path:
    """$XDG_STATE_HOME/agentdash/demo-overrides.json (~/.local/state/... by default)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "agentdash" / "demo-overrides.json"


def load_demo_config(path: Path | None) -> Config:
    from agentdash.cli import EXAMPLE_CONFIG
    from controller.config import load_config

    return load_config(path or EXAMPLE_CONFIG)
