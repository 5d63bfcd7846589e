"""A deterministic sample fleet: the example config, seeded lag, pods and token usage, a fixed
clock. It runs the real Reconciler (so operator actions really change its decisions) over
static sources. Used by the snapshot tests, the screenshot script and the benchmark."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path

from agentdash.example import EXAMPLE_CONFIG
from agentdash.tui.feed import Feed
from controller.actuators.event_log import EventLog
from controller.coordination.overrides import OverrideStore
from controller.core.config import Config, load_config, parse_config
from controller.core.events import EventBus
from controller.core.model import ClusterEvent, Pod, PoolState, QueueStats, Usage
from controller.runtime.loop import Reconciler

START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
TICKS = 30


class SampleClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class StaticLag:
    def __init__(self, lag: dict[str, QueueStats]) -> None:
        self.lag = lag

    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        return self.lag

    def watch_idle(self, idle: set[str], wake: object) -> None:
        return None


class StaticUsage:
    def __init__(self, tokens: dict[str, int], mean: dict[str, float]) -> None:
        self.tokens = tokens
        self.mean = mean

    def usage(self, now: float) -> Usage:
        return Usage(dict(self.tokens), self.mean)


class InstantCluster:
    """Replicas become pods at once; pod names and ages are deterministic."""

    def __init__(self, config: Config, clock: SampleClock) -> None:
        self.config = config
        self.clock = clock
        self.replicas = dict.fromkeys(config.pools, 0)
        self.pods: dict[str, list[Pod]] = {p: [] for p in config.pools}
        self.made = 0
        self.tasks = random.Random(11)
        self.events = EventLog(clock)

    async def observe(self) -> Mapping[str, PoolState]:
        return {
            pool: PoolState(len(pods), len(pods), tuple(pods)) for pool, pods in self.pods.items()
        }

    async def events_of(self, pool: str, pod: str | None = None) -> list[ClusterEvent]:
        if pod is not None:
            return self.events.of("Pod", pod)
        return self.events.of("Deployment", self.config.pools[pool].deployment.name)

    async def scale(self, pool: str, replicas: int) -> None:
        pods = self.pods[pool]
        self.events.scaled(self.config.pools[pool].deployment.name, len(pods), replicas)
        for pod in pods[replicas:]:
            self.events.stopping(pod.name)
        del pods[replicas:]  # the newest go first, as the simulated cluster does
        while len(pods) < replicas:
            self.made += 1
            task = f"t{self.tasks.randint(1, 99999):06d}" if self.made % 3 else None
            pods.append(Pod(f"{pool}-{self.made:05d}", pool, "Running", True, self.clock(), task))
            namespace = self.config.pools[pool].deployment.namespace
            self.events.scheduled(namespace, pods[-1].name)
            self.events.started(pods[-1].name)
        self.replicas[pool] = replicas

    async def close(self) -> None:
        """Nothing to let go of: the pods live in this object."""


FAST = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 20, "period_seconds": 1},
    "scale_down": {"stabilization_seconds": 0, "max_pods": 20, "period_seconds": 1},
}
"""The big sample fleet follows its lag at once, so pods come and go on every update."""


def sample_config(pools: int | None = None) -> Config:
    """The example config, or a synthetic fleet of `pools` pools over pools/5 tenants."""
    if pools is None:
        return load_config(EXAMPLE_CONFIG)
    tiers = ["enterprise", "growth", "starter"]
    tenants = max(1, pools // 5)
    return parse_config(
        {
            "cluster": {"max_pods": pools * 12},
            "tiers": {
                "enterprise": {"priority": 1000},
                "growth": {"priority": 500},
                "starter": {"priority": 100},
            },
            "tenants": {
                f"tenant-{i:03d}": {"tier": tiers[i % 3], "daily_token_budget": 10**7}
                for i in range(tenants)
            },
            "pools": {
                f"pool-{i:04d}": {
                    "tenant": f"tenant-{i % tenants:03d}",
                    "deployment": {"name": f"pool-{i:04d}"},
                    # Each tenant's own stream, as the example has it: a shared one is
                    # warned of (agentdash.shared_streams).
                    "queue": {
                        "stream": f"AGENT_TASKS_{i % tenants:03d}",
                        "consumer": f"pool-{i:04d}",
                    },
                    "max_replicas": 20,
                    "behavior": FAST,
                }
                for i in range(pools)
            },
        }
    )


def waited(stats: QueueStats, now: float) -> QueueStats:
    """The reading with its oldest pending task as old as its queue takes to arrive at its
    rate (no draw from the seeded generator: every other figure stays as it was)."""
    if not stats.pending:
        return stats
    rate = max(stats.arrival_rate or 0.0, 0.05)
    return replace(stats, oldest_at=now - min(stats.pending / rate, 3600.0))


async def sample_feed(
    config: Config | None = None, overrides: Path | None = None, seed: int = 5
) -> Feed:
    """A Feed over the sample fleet after TICKS seconds of ticking."""
    config = config or sample_config()
    clock = SampleClock()
    rng = random.Random(seed)
    names = list(config.pools)
    curve = {p: [max(0, int(rng.gauss(8, 6))) for _ in range(TICKS)] for p in names}
    lag = StaticLag({})
    tokens = {}
    for name, tenant in config.tenants.items():
        budget = tenant.daily_token_budget
        tokens[name] = int(budget * rng.uniform(0.3, 0.95)) if budget else rng.randint(0, 10**6)
    usage = StaticUsage(tokens, {p: round(rng.uniform(2, 6), 1) for p in names})
    cluster = InstantCluster(config, clock)
    store = OverrideStore(config, overrides, clock=clock, who=lambda: "operator")
    loop = Reconciler(
        config, lag, usage, cluster, bus=EventBus(size=5000), clock=clock, store=store
    )
    feed = Feed(loop)
    for tick in range(TICKS):
        lag.lag = {
            p: waited(
                QueueStats(curve[p][tick], min(curve[p][tick], 2), rng.uniform(0, 2)), clock()
            )
            for p in names
        }
        for name in usage.tokens:
            usage.tokens[name] += rng.randint(0, 4000)
        await loop.tick()
        clock.now += 1.0
    return feed
