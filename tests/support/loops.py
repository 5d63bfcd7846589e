"""The control loop two ways: its bookkeeping without I/O (`Loop`, with its history handed over
through a real NATS: `leader`, `take_over`), and the real Reconciler on a real NATS with a
simulated cluster (`make_loop`)."""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client

from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.handover import HistoryHandover
from controller.core.config import Config
from controller.core.history import History
from controller.core.model import Observations, ScaleDecision
from controller.core.policy import decide
from controller.runtime.loop import Reconciler
from controller.sources.base import UsageSource
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger
from tests.support.factories import config, observe, pool


class Loop:
    """The live loop's bookkeeping, without I/O: decide, actuate at once, record."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.history = History(cfg)
        self.replicas = {name: 0 for name in cfg.pools}

    def tick(self, now: float, **lag: int) -> ScaleDecision:
        obs = observe(**{p: (lag.get(p, 0), 0, self.replicas[p]) for p in self.cfg.pools})
        (decision,) = self.step(obs, now)
        return decision

    def step(self, obs: Observations, now: float) -> list[ScaleDecision]:
        decisions = decide(self.cfg, obs, history=self.history, now=now)
        self.history.record_tick(decisions, obs, now)
        for d in decisions:
            if d.changes:
                self.history.record_scale(d.pool, now, d.current, d.desired)
                self.replicas[d.pool] = d.desired
        return decisions


async def handover(nc: Client, cfg: Config) -> HistoryHandover:
    made = HistoryHandover(nc, cfg)
    await made.start()
    return made


async def leader(nc: Client, cfg: Config) -> tuple[Loop, HistoryHandover]:
    """A leader's bookkeeping and its handover, which has read the (empty) bucket."""
    loop, saver = Loop(cfg), await handover(nc, cfg)
    await saver.restore(loop.history, 0.0)
    return loop, saver


async def take_over(nc: Client, cfg: Config, old: Loop, now: float) -> tuple[Loop, int]:
    """A new process taking over from `old` at `now`: the Deployment as `old` left it, the
    history from the bucket; and how many pools that gave."""
    successor = Loop(cfg)
    successor.replicas = dict(old.replicas)
    restored = await (await handover(nc, cfg)).restore(successor.history, now)
    return successor, restored


BEHAVIOR = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 4, "period_seconds": 10},
    "scale_down": {"stabilization_seconds": 20, "max_pods": 2, "period_seconds": 10},
}


def fleet(**fields: Any) -> Config:
    fields = {"max_replicas": 10, "cooldown_seconds": 60, "cold_start_seconds": 0, **fields}
    return config({"research": pool("acme", behavior=BEHAVIOR, **fields)})


async def make_loop(
    nc: Client, cfg: Config, clock: Any, usage: UsageSource | None = None
) -> tuple[Reconciler, SimulatedCluster]:
    """A loop on the real JetStream lag and a simulated cluster; token usage from `usage`
    (default: the workers' reports, none yet)."""
    await ensure_queues(nc, cfg)
    lag = JetStreamLagSource(nc, cfg, clock=clock)
    await lag.start()
    cluster = SimulatedCluster(cfg, clock=clock)
    return Reconciler(cfg, lag, usage or TokenLedger(cfg), cluster, clock=clock), cluster


async def publish(nc: Client, subject: str, n: int) -> None:
    for i in range(n):
        await nc.jetstream().publish(subject, json.dumps({"id": i}).encode())
