"""What the dashboard reads and where operator actions go.

`Feed` is one Reconciler seen from the screen: its snapshot after each tick, the events it
published since the last look, and its override store. The live demo, a real fleet and the
deterministic sample fleet (tests, screenshots, benchmarks) all hand the app a Feed.
"""

from __future__ import annotations

import asyncio

from controller.config import Config
from controller.events import ActionEvent, Event, TickEvent
from controller.loop import Reconciler
from controller.overrides import OverrideStore
from controller.snapshot import FleetSnapshot


class Feed:
    def __init__(self, loop: Reconciler) -> None:
        self.loop = loop
        self._queue: asyncio.Queue[Event] = loop.bus.subscribe()

    @property
    def config(self) -> Config:
        return self.loop.config

    @property
    def store(self) -> OverrideStore:
        return self.loop.store

    def snapshot(self) -> FleetSnapshot:
        return self.loop.snapshot()

    def events(self) -> list[Event]:
        """Events since the last call, oldest first (ticks left out: the snapshot has them)."""
        found: list[Event] = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if not isinstance(event, TickEvent):
                found.append(event)
        return found

    def announce(self, event: ActionEvent) -> None:
        self.loop.act(event)
