"""Small builders for the backtest's tests: a trace from readable rows, a run to the end."""

from __future__ import annotations

import heapq
import math
import random

from controller.core.config import Config
from controller.simulate.clock import Autoscaler, run
from controller.simulate.cluster import Cluster
from controller.simulate.report import percentile, waits
from controller.simulate.trace import Trace


def trace(cfg: Config, *rows: tuple[float, str, float, int]) -> Trace:
    """A trace from (t, pool name, work_s, tokens) rows."""
    index = {name: i for i, name in enumerate(cfg.pools)}
    return Trace.build(
        cfg.pools, [(t, index[pool], work, tokens) for t, pool, work, tokens in rows]
    )


def waking_bursts(cfg: Config, pool: str, seed: int, quiet: float, hours: float) -> Trace:
    """A pool that keeps waking: bursts of 1-4 tasks within 10 s, each working 2-15 s, 20-200 s
    apart; a `quiet` share of them followed by 10-30 quiet minutes instead."""
    rng = random.Random(seed)
    rows, t = [], 10.0
    while t < hours * 3600:
        for _ in range(rng.randint(1, 4)):
            rows.append((t + rng.uniform(0, 10), pool, rng.uniform(2, 15), 100))
        t += rng.uniform(20, 200) if rng.random() > quiet else rng.uniform(600, 1800)
    return trace(cfg, *rows)


def replay(cfg: Config, tasks: Trace, scaler: Autoscaler, drain: float = 3600.0) -> Cluster:
    return run(cfg, tasks, scaler, tasks.duration + drain)


def bare_cluster(
    cfg: Config,
    tasks: int,
    initial: list[int],
    *,
    work: float = 100.0,
    horizon: float = 1000.0,
    marks_idle: bool = False,
) -> Cluster:
    """A cluster driven by hand: `tasks` tasks of the first pool, all at time 0 (arrive them
    yourself), with `initial` ready pods per pool."""
    rows = [(0.0, next(iter(cfg.pools)), work, 1)] * tasks
    return Cluster(cfg, trace(cfg, *rows), initial=initial, gate_budgets=False,
                   marks_idle=marks_idle, horizon=horizon)  # fmt: skip


def advance(cluster: Cluster, until: float = math.inf) -> None:
    """Let the cluster's own events (tasks done, pods ready, grace periods over) happen up to
    `until`, as the engine would between arrivals and ticks."""
    heap = cluster.heap
    while heap and heap[0][0] <= until:
        cluster.handle(heapq.heappop(heap))


def most_at_once(cluster: Cluster, tasks: Trace, *pools: int) -> int:
    """The most tasks (of `pools`, or of all) that ran at the same time, from when each
    started and how long it works. Only for runs without redeliveries (a task's start is its
    last)."""
    assert cluster.redelivered == 0
    edges: list[tuple[float, int]] = []
    for i, wait in enumerate(cluster.wait):
        if wait >= 0 and (not pools or tasks.pool[i] in pools):
            start = tasks.t[i] + wait
            edges += [(start, 1), (start + tasks.work_s[i], -1)]
    running = most = 0
    for _, step in sorted(edges):  # at a tie a task ends before the next starts
        running += step
        most = max(most, running)
    return most


def p95(cluster: Cluster, tasks: Trace, pool: int | None = None) -> float:
    """The report's p95 queue wait (of `pool`, or of all)."""
    chosen = [w for i, w in enumerate(waits(cluster)) if pool is None or tasks.pool[i] == pool]
    value = percentile(sorted(chosen), 0.95)
    assert value is not None
    return value


class Fixed:
    """An autoscaler that never scales: the pods it starts with are all there is."""

    name = "fixed"
    gate_budgets = False
    marks_idle = False

    def __init__(self, replicas: list[int]) -> None:
        self.replicas = replicas
        self.wakes = bytearray(len(replicas))

    def initial(self) -> list[int]:
        return list(self.replicas)

    def tick(self, now: float, cluster: Cluster) -> float:
        return math.inf

    def wake(self, now: float, pool: int) -> float:
        raise AssertionError("never woken")
