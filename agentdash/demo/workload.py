"""The demo's synthetic workload: agent tasks with a quiet / burst / quiet shape per tenant.

Seeded and reproducible: the same seed gives the same tasks at the same offsets. One cycle
(60 s by default) shows a scale-up from zero (a manager delegating 20 tasks at once), every
tenant bursting together against the cluster cap and the shared provider limit, and a quiet
tail in which pools cool down and return to zero.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

from controller.core.config import Config


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    pool: str
    tenant: str
    at: float
    """Seconds from the start of the run."""
    work_s: float
    tokens: int

    def payload(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "pool": self.pool,
                "tenant": self.tenant,
                "work_s": self.work_s,
                "tokens": self.tokens,
            }
        ).encode()


@dataclass(frozen=True, slots=True)
class Shape:
    """When a pool is busy within one cycle, as fractions of the cycle."""

    burst_start: float
    burst_end: float
    burst_rate: float
    """Tasks a second during the burst."""
    quiet_rate: float
    work_s: tuple[float, float]
    tokens: tuple[int, int]
    delegate_at: float | None = None
    """A batch of 20 tasks at once at this point of the cycle (the 'delegate 20' case)."""


_TIER_SHAPES = {
    "enterprise": Shape(0.15, 0.5, 3.0, 0.05, (2.0, 5.0), (4_000, 12_000), delegate_at=0.08),
    "growth": Shape(0.2, 0.55, 3.0, 0.03, (2.0, 6.0), (3_000, 9_000)),
    "starter": Shape(0.25, 0.5, 2.0, 0.0, (1.5, 4.0), (2_000, 6_000)),
}


def shape_for(config: Config, pool: str) -> Shape:
    return _TIER_SHAPES.get(config.tier_of[pool], _TIER_SHAPES["growth"])


def tasks(
    config: Config, seed: int, cycle_s: float = 60.0, cycles: int | None = 1
) -> Iterator[Task]:
    """Every task of the run in time order; `cycles=None` repeats forever."""
    rng = random.Random(seed)
    n = 0
    cycle = 0
    while cycles is None or cycle < cycles:
        batch: list[Task] = []
        for pool in config.pools:
            batch += _cycle(config, pool, rng, cycle * cycle_s, cycle_s)
        batch.sort(key=lambda t: (t.at, t.pool))
        for task in batch:
            n += 1
            yield Task(f"t{n:06d}", task.pool, task.tenant, task.at, task.work_s, task.tokens)
        cycle += 1


def _cycle(
    config: Config, pool: str, rng: random.Random, start: float, length: float
) -> list[Task]:
    shape = shape_for(config, pool)
    tenant = config.pools[pool].tenant
    found: list[Task] = []

    def add(at: float) -> None:
        work = round(rng.uniform(*shape.work_s), 2)
        found.append(Task("", pool, tenant, start + at, work, rng.randint(*shape.tokens)))

    if shape.delegate_at is not None and config.pools[pool].min_replicas == 0:
        for _ in range(20):
            add(shape.delegate_at * length)
    # Piecewise-constant rate: quiet, burst, quiet. A gap that crosses a boundary restarts
    # at the boundary, which is exact for Poisson arrivals (they are memoryless).
    edges = [0.0, shape.burst_start * length, shape.burst_end * length, length]
    rates = [shape.quiet_rate, shape.burst_rate, shape.quiet_rate]
    for begin, end, rate in zip(edges, edges[1:], rates, strict=False):
        t = begin
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= end:
                break
            add(t)
    return found
