"""How much CPU the dashboard needs to stay live over a big fleet.

500 pools and about 5,000 pods (the sample fleet's static sources, scaled up). Every update
changes every pool's lag and replicas, so hundreds of pods come and go each time (far more
churn than a real fleet); the app redraws the Fleet screen, then the Pods screen of all pools,
at its real pace of two refreshes a second. Reported: the CPU time of the first paint, then
the CPU seconds the app spends per second of updates (the controller's own ticks are not
counted) and the slowest single refresh.

    python benchmarks/dashboard.py
"""

from __future__ import annotations

import asyncio
import random
import time

from agentdash.tui.app import REFRESH_S, AgentDashApp
from agentdash.tui.sample import sample_config, sample_feed
from controller.sources import QueueStats

POOLS, UPDATES = 500, 20


async def main() -> None:
    config = sample_config(POOLS)
    feed = await sample_feed(config)
    app = AgentDashApp(feed, refresh_s=None)
    rng = random.Random(3)
    lag = feed.loop.lag
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        for screen, keys in (("fleet", []), ("pods, all pools", ["p", "a"])):
            cpu = time.process_time()
            await pilot.press(*keys)
            app.refresh_feed()
            await pilot.pause()
            first = time.process_time() - cpu
            busy, worst = 0.0, 0.0
            for _ in range(UPDATES):
                lag.lag = {p: QueueStats(rng.randint(9, 17), rng.randint(0, 2), rng.random())
                           for p in config.pools}  # type: ignore[attr-defined]  # fmt: skip
                feed.loop.clock.now += REFRESH_S  # type: ignore[attr-defined]
                await feed.loop.tick()
                cpu = time.process_time()
                app.refresh_feed()
                await pilot.pause()  # let the screen render
                spent = time.process_time() - cpu
                busy += spent
                worst = max(worst, spent)
            pods = len(feed.snapshot().pods)
            print(
                f"{screen:<16} {POOLS} pools, {pods} pods: first paint {first * 1e3:.0f} ms; "
                f"then {busy / (UPDATES * REFRESH_S):.2f} CPU s per s of updates, "
                f"slowest refresh {worst * 1e3:.0f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
