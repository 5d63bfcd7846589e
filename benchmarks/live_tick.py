"""What one tick of the live loop costs at fleet size, when ~1% of the pools change a tick.

The live loop (controller.runtime.loop.Reconciler) runs as the daemon runs it, with the relay
of each tick (metrics: the tick event, the lag of the pools that changed, tokens and stale
pools), over N pools of 100 tenants; with `--short`, a tenth of the tenants are held by their
max_pods at every tick; with `--all-short`, every tenant is (a hundred short ceilings, each
shared by its tenant's pools); with `--cluster-short`, the cluster's max_pods is (one short
ceiling that every pool shares). Its sources answer from memory, so that
only the loop is measured, as a real source does when nothing moved: the very objects it gave last
time for the pools that did not change. Each tick, 1% of the pools get a new queue reading; a pool
told to scale shows its new replicas at the next tick.

Prints CPU per tick (process time: the loop's own work, GC included, with the daemon's
collector settings) as median, p95 and max over 300 ticks, and the decision pass inside it
(Engine.step). They follow ten minutes of warm-up (600 ticks of the same), as a daemon goes
through: each pool's first change creates its metrics' label children and starts its history,
once. For comparison, the pass agentdash ran before the
engine: `decide` over every pool.

    python benchmarks/live_tick.py [--short | --all-short | --cluster-short] [POOLS ...]
    # POOLS: 1000 5000 20000 by default
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Collection, Mapping

from agentdash.daemon import GC_THRESHOLD
from controller.core.config import Config, parse_config
from controller.core.events import TickEvent
from controller.core.model import PoolState, QueueStats, Usage
from controller.core.policy import decide
from controller.runtime.loop import Reconciler
from controller.runtime.metrics import Metrics

TENANTS, TICKS, CHANGING = 100, 300, 0.01
WARM_TICKS = 600
"""Before measuring, ten minutes of the same: nearly every pool has changed once (its metrics'
label children exist, its history has begun), as in a daemon that has run a while."""


def fleet(pools: int, short: bool, every: bool = False, cluster: bool = False) -> Config:
    tiers = ["enterprise", "growth", "starter"]
    return parse_config(
        {
            "cluster": {"max_pods": pools // 4 if cluster else 100_000},
            "tiers": {"enterprise": {"priority": 1000}, "growth": {"priority": 500},
                      "starter": {"priority": 100}},
            "tenants": {
                f"t{i}": {"tier": tiers[i % 3], "daily_token_budget": 10**12,
                          "max_pods": pools // 200 if short and (i % 10 == 0 or every) else None}
                for i in range(TENANTS)
            },
            "providers": {"openai": {"rpm": 10**7}, "anthropic": {"rpm": 10**7}},
            "pools": {
                f"p{i}": {
                    "tenant": f"t{i % TENANTS}",
                    "deployment": {"name": f"p{i}"},
                    "queue": {"stream": "AGENT_TASKS", "consumer": f"p{i}"},
                    "provider": ["openai", "anthropic", None][i % 3],
                    "rpm_per_replica": 10,
                    "target_lag_per_replica": 2,
                    "min_replicas": i % 2,
                    "max_replicas": 4,
                }
                for i in range(pools)
            },
        }
    )  # fmt: skip


class Memory:
    """Lag source, usage source and actuator in one, answering from memory."""

    def __init__(self, config: Config, rng: random.Random) -> None:
        self.rng = rng
        self.names = list(config.pools)
        self.stats = {name: QueueStats(0, 0, 0.0) for name in self.names}
        self.states = {name: PoolState(i % 2, i % 2) for i, name in enumerate(self.names)}
        self.tokens = {tenant: 0 for tenant in config.tenants}
        self.calls = 0

    def move(self) -> None:
        """A tick's worth of change: new queue readings for 1% of the pools."""
        for name in self.rng.sample(self.names, max(1, int(len(self.names) * CHANGING))):
            pending = self.rng.choice((0, 0, self.rng.randint(1, 60)))
            self.stats[name] = QueueStats(pending, self.rng.randint(0, 4), self.rng.random())

    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        return self.stats

    def watch_idle(self, idle: set[str], wake: Callable[[str], None]) -> None:
        pass

    def usage(self, now: float) -> Usage:
        return Usage(self.tokens)

    async def observe(self) -> Mapping[str, PoolState]:
        return self.states

    async def scale(self, pool: str, replicas: int) -> None:
        self.calls += 1
        self.states[pool] = PoolState(replicas, replicas)

    async def close(self) -> None:
        pass


async def measure(pools: int, short: bool, every: bool, cluster: bool) -> None:
    config = fleet(pools, short, every, cluster)
    source = Memory(config, random.Random(7))
    now = [1_000_000.0]
    loop = Reconciler(config, source, source, source, clock=lambda: now[0])
    metrics = Metrics(config)
    events = loop.bus.subscribe()
    ticks: list[float] = []
    passes: list[float] = []
    step = loop.engine.step

    def timed_step(at: float) -> list[int]:
        start = time.process_time()
        try:
            return step(at)
        finally:
            passes.append(time.process_time() - start)

    loop.engine.step = timed_step  # type: ignore[method-assign]
    gc.freeze()  # as the daemon does once started (agentdash.daemon)
    gc.set_threshold(GC_THRESHOLD)
    shorts = 0
    warm_calls = 0
    for k in range(WARM_TICKS + TICKS):
        if k == WARM_TICKS:
            warm_calls = source.calls
        source.move()
        start = time.process_time()
        await loop._tick(None, settle=True)  # as `run` ticks (`tick` also lists every decision)
        while not events.empty():  # the daemon's relay of the tick (agentdash.runtime)
            event = events.get_nowait()
            metrics.observe(event)
            if isinstance(event, TickEvent):
                pools_seen = loop.engine.observations.pools
                metrics.observe_lag((d.pool, pools_seen[d.pool].lag) for d in event.decisions)
                metrics.observe_tokens(loop.engine.observations.tokens_today)
                metrics.observe_state(loop.stale, loop.leading)
        ticks.append(time.process_time() - start)
        shorts += bool(loop.engine.ceilings.short) and k >= WARM_TICKS
        now[0] += 1.0
    ticks, passes = ticks[WARM_TICKS:], passes[WARM_TICKS:]
    calls = source.calls - warm_calls
    start = time.process_time()
    decide(config, loop.engine.observations, loop.overrides, loop.history, now[0])
    whole = time.process_time() - start
    gc.unfreeze()
    gc.set_threshold(700)
    held = ", every tenant" if every else ", a tenth of the tenants"
    held = (held + " at max_pods") if short else ", the cluster at max_pods" if cluster else ""
    held += f", short at {shorts / TICKS:.0%} of ticks"
    print(
        f"{pools:>6,} pools, {CHANGING:.0%} changing{held} "
        f"({calls / TICKS:.0f} scale calls a tick): tick {_ms(ticks)}; "
        f"of which the decision pass {_ms(passes)}; "
        f"`decide` over every pool (before the engine): {whole * 1000:.0f} ms",
        flush=True,
    )


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95)]
    return (
        f"median {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f}, "
        f"max {ordered[-1] * 1000:.2f}"
    )


def main() -> None:
    every = "--all-short" in sys.argv
    short = every or "--short" in sys.argv
    cluster = "--cluster-short" in sys.argv
    sizes = [int(a) for a in sys.argv[1:] if not a.startswith("--")] or [1000, 5000, 20000]
    for pools in sizes:
        asyncio.run(measure(pools, short, every, cluster))


if __name__ == "__main__":
    main()
