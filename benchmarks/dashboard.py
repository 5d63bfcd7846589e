"""How much CPU the dashboard needs to stay live over a big fleet, and how fast it answers keys.

The sample fleet's static sources scaled up to 500 and 2,000 pools (about 10 pods a pool).
Every update changes every pool's lag and replicas, so pods come and go in every pool each time
(far more churn than a real fleet). For each screen (Fleet, Pods of all pools, Tenants,
Events) it reports:

- open: the time from the key that opens the screen (`a` for all pods) to its first paint;
- CPU: the CPU seconds the app spends per second of updates at its real pace (a refresh every
  REFRESH_S, each after a controller tick, which is not counted), and the slowest refresh;
- keys: while the app refreshes on its own timer and new snapshots arrive every second (as a
  dashboard attached to a daemon gets them: recorded ticks, replayed), 60 cursor keys typed
  at 5-15 a second, not waiting for the screen; the time from a key reaching the app to the
  paint that shows it (p50/p90), and how many keys the table never handled.

    python benchmarks/dashboard.py            # 500 and 2,000 pools
    python benchmarks/dashboard.py 2000       # one size
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import sys
import time
from typing import Any

from textual import events

from agentdash.tui.app import REFRESH_S, AgentDashApp
from agentdash.tui.feed import Feed
from agentdash.tui.sample import sample_config, sample_feed
from controller.core.model import QueueStats

UPDATES = 20
KEYS = 60
SCREENS = {
    "fleet": [],
    "pods, all pools": ["p", "a"],
    "pods, by name": ["p", "a", "N"],  # sorted by the table, on every refresh
    "tenants": ["t"],
    "events": ["e"],
}


class Benchmark:
    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.rng = random.Random(3)
        self.app = AgentDashApp(feed, refresh_s=None)
        self.painted = asyncio.Event()
        self.app.post_display_hook = self.painted.set  # type: ignore[method-assign]

    async def tick(self) -> None:
        """One controller tick over new lag in every pool (its CPU is the controller's)."""
        loop: Any = self.feed.loop
        rng = self.rng
        loop.lag.lag = {p: QueueStats(rng.randint(9, 17), rng.randint(0, 2), rng.random())
                        for p in self.feed.config.pools}  # fmt: skip
        loop.clock.now += REFRESH_S
        await loop.tick()

    async def paint(self, pilot: Any) -> None:
        """Until the screen has been painted (if anything on it changed)."""
        self.painted.clear()
        await pilot.pause()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.painted.wait(), REFRESH_S)

    async def open(self, pilot: Any, keys: list[str]) -> float:
        """From the last of `keys` to the first paint."""
        await pilot.press(*keys[:-1])
        start = time.perf_counter()
        await pilot.press(*keys[-1:])  # none for the Fleet: its refresh from scratch
        self.app.refresh_feed()
        await self.paint(pilot)
        return time.perf_counter() - start

    async def cpu(self, pilot: Any) -> tuple[float, float]:
        busy, worst = 0.0, 0.0
        for _ in range(UPDATES):
            await self.tick()
            await pilot.pause()
            cpu = time.process_time()
            self.app.refresh_feed()
            await self.paint(pilot)
            spent = time.process_time() - cpu
            busy += spent
            worst = max(worst, spent)
        return busy / (UPDATES * REFRESH_S), worst

    async def keys(self) -> tuple[list[float], int]:
        """Cursor keys typed while updates flow: latency of each to its paint, keys lost."""
        app = self.app
        table: Any = app.focused
        handled: list[float] = []
        move = table.action_cursor_down

        def counted() -> None:
            move()
            handled.append(time.perf_counter())

        table.action_cursor_down = counted
        paints: list[float] = []
        app.post_display_hook = lambda: paints.append(time.perf_counter())  # type: ignore[method-assign]
        replay = await Replay.record(self)
        app._feed = replay  # type: ignore[assignment]
        timer = app.set_interval(REFRESH_S, app.refresh_feed)
        stop = asyncio.Event()

        async def controller() -> None:
            while not stop.is_set():
                replay.next()
                await asyncio.sleep(1.0)

        ticking = asyncio.create_task(controller())
        sent = []
        for _ in range(KEYS):  # typed at their own pace, not waiting for the screen
            await asyncio.sleep(self.rng.uniform(1 / 15, 1 / 5))
            sent.append(time.perf_counter())
            app._driver.send_message(events.Key("down", None))  # type: ignore[union-attr]
        await asyncio.sleep(1.0)
        stop.set()
        await ticking
        timer.stop()
        app._feed = self.feed
        app.post_display_hook = self.painted.set  # type: ignore[method-assign]
        table.action_cursor_down = move
        # Keys are handled in order: the n-th key sent is the n-th handled, then painted.
        latencies = []
        for at, done in zip(sent, handled, strict=False):
            shown = next((t for t in paints if t >= done), None)
            if shown is not None:
                latencies.append(shown - at)
        return latencies, len(sent) - len(handled)


class Replay:
    """The feed as a dashboard attached to a daemon sees it: new snapshots and events once a
    second, with the controller's own ticks (half a second each at 2,000 pools) elsewhere."""

    def __init__(self, feed: Feed, states: list[tuple[Any, list[Any]]]) -> None:
        self.feed = feed
        self.states = states
        self.at = 0
        self.pending: list[Any] = []

    @classmethod
    async def record(cls, bench: Benchmark, ticks: int = 10) -> Replay:
        states = []
        for _ in range(ticks):
            await bench.tick()
            states.append((bench.feed.snapshot(), bench.feed.events()))
        return cls(bench.feed, states)

    def next(self) -> None:
        self.at = (self.at + 1) % len(self.states)
        self.pending += self.states[self.at][1]

    def snapshot(self) -> Any:
        return self.states[self.at][0]

    def events(self) -> list[Any]:
        found, self.pending = self.pending, []
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.feed, name)


async def measure(pools: int) -> None:
    feed = await sample_feed(sample_config(pools))
    bench = Benchmark(feed)
    async with bench.app.run_test(size=(200, 60)) as pilot:
        await bench.paint(pilot)
        for screen, keys in SCREENS.items():
            if keys:
                await pilot.press("f")
            opened = await bench.open(pilot, keys)
            per_s, worst = await bench.cpu(pilot)
            latencies, lost = await bench.keys()
            p50 = statistics.median(latencies)
            p90 = statistics.quantiles(latencies, n=10)[-1]
            pods = len(feed.snapshot().pods)
            print(
                f"{pools} pools, {pods} pods, {screen:<15} open {opened * 1e3:5.0f} ms; "
                f"{per_s:.2f} CPU s/s of updates, slowest refresh {worst * 1e3:4.0f} ms; "
                f"keys p50 {p50 * 1e3:4.0f} ms, p90 {p90 * 1e3:4.0f} ms, lost {lost}/{KEYS}",
                flush=True,
            )


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [500, 2000]:
        asyncio.run(measure(size))
