"""What the dashboard reads and where operator actions go.

`Feed` is one Reconciler seen from the screen: its snapshot after each tick, the events it
published since the last look, and its override store. The live demo, a real fleet and the
deterministic sample fleet (tests, screenshots, benchmarks) all hand the app a Feed.

On a real fleet the Feed also reads the leader's event history
(controller.coordination.history_stream): its first look returns the replayed history, then new
events as the leader tells them, each once even when this process saw it too (its own actions come
back from the stream; a dashboard that leads reads its own events back).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from controller.actuators.base import EventSource
from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.history_stream import HistoryReader, encode
from controller.coordination.overrides import OverrideStore
from controller.core.config import Config
from controller.core.events import ActionEvent, Event, TickEvent
from controller.core.model import ClusterEvent
from controller.runtime.loop import Reconciler
from controller.runtime.snapshot import FleetSnapshot

REMEMBERED = 20_000
"""Events remembered to tell a repeat: more than the stream replays, and than the app logs."""


class Feed:
    def __init__(self, loop: Reconciler, history: HistoryReader | None = None) -> None:
        self.loop = loop
        self.history = history
        self._queue: asyncio.Queue[Event] = loop.bus.subscribe()
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    @property
    def config(self) -> Config:
        return self.loop.config

    @property
    def store(self) -> OverrideStore:
        return self.loop.store

    async def cluster_events(
        self, pool: str, pod: str | None = None
    ) -> Sequence[ClusterEvent] | None:
        """The cluster's Events about the pool's Deployment, or one of its pods; None where
        the cluster keeps none. Raises SourceError if they cannot be read."""
        actuator = self.loop.actuator
        if not isinstance(actuator, EventSource):
            return None
        return await actuator.events_of(pool, pod)

    @property
    def simulated_cluster(self) -> bool:
        """A simulated cluster lives only in the process that scales it: one that follows
        another's has none of its pods (a Kubernetes cluster's, every process reads)."""
        return isinstance(self.loop.actuator, SimulatedCluster)

    def snapshot(self) -> FleetSnapshot:
        return self.loop.snapshot()

    def events(self) -> list[Event]:
        """Events since the last call, oldest first (ticks left out: the snapshot has them)."""
        found: list[Event] = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if not isinstance(event, TickEvent):
                found.append(event)
        if self.history is None:
            return found
        found += self.history.take()
        found.sort(key=lambda event: event.ts)  # the stream's arrive a moment after our own
        return [event for event in found if self._first_time(event)]

    def _first_time(self, event: Event) -> bool:
        """Whether this event was not returned before. The same event read from the bus and
        from the stream encodes the same (the stream's copy is what `encode` made of it)."""
        assert not isinstance(event, TickEvent)
        key = encode(event)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        return True

    def announce(self, event: ActionEvent) -> None:
        self.loop.announce(event)
