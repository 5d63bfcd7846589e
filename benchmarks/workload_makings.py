"""The makings of a workload: a Draft (a fleet's config data and its tasks) and the helpers that
write one. The policy suite's shapes, the held-out shapes and the real-trace workloads are all
written with these (benchmarks/ is no package: the scripts import each other by name)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

TIERS = {
    "enterprise": {"priority": 1000},
    "growth": {"priority": 500},
    "starter": {"priority": 100},
}
THREE = {"acme": "enterprise", "globex": "growth", "initech": "starter"}
"""Three tenants, one a tier: what most shapes share a cluster between."""
HOUR = 3600.0
Row = tuple[float, str, float, int]
"""A task as a shape makes it: (arrival, pool name, work seconds, tokens)."""


@dataclass
class Draft:
    """A shape's fleet (config data; pools without deployment or queue) and its tasks."""

    about: str
    data: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    held_tiers: tuple[str, ...] = ()
    """Tiers that a hard-capped budget holds back on purpose: their p95 is not compared."""


def fleet(
    tenants: dict[str, str],
    pools: dict[str, dict[str, Any]],
    max_pods: int,
    providers: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Config data: `tenants` maps each tenant to its tier, `providers` each provider to rpm.
    Pools need lag 2 a replica (the rest is left to the defaults)."""
    return {
        "cluster": {"max_pods": max_pods},
        "tiers": TIERS,
        "tenants": {name: {"tier": tier} for name, tier in tenants.items()},
        "providers": {name: {"rpm": rpm} for name, rpm in (providers or {}).items()},
        "pools": {name: {"target_lag_per_replica": 2, **spec} for name, spec in pools.items()},
    }


def pools(tenants: dict[str, str], kinds: tuple[str, ...], **spec: Any) -> dict[str, Any]:
    """A pool `tenant-kind` for each tenant and kind, all alike."""
    return {f"{tenant}-{kind}": {"tenant": tenant, **spec} for tenant in tenants for kind in kinds}


def poisson(rng: random.Random, rate: float, start: float, end: float) -> list[float]:
    times, t = [], start + rng.expovariate(rate)
    while t < end:
        times.append(t)
        t += rng.expovariate(rate)
    return times


def burst(rng: random.Random, at: float, size: int, spread: float = 5.0) -> list[float]:
    """`size` tasks within `spread` seconds of `at`: a manager delegating at once."""
    return [at + rng.uniform(0, spread) for _ in range(size)]


def tasks(rng: random.Random, times: list[float], pool: str, median: float, sigma: float = 0.6,
          tokens_per_s: float = 400.0) -> list[Row]:  # fmt: skip
    """Agent tasks: log-normal work (clipped to 5 s .. 15 min), tokens in proportion to it."""
    rows = []
    for t in times:
        work = min(max(rng.lognormvariate(math.log(median), sigma), 5.0), 900.0)
        tokens = round(work * tokens_per_s * rng.uniform(0.7, 1.3))
        rows.append((round(t, 3), pool, round(work, 1), tokens))
    return rows


def busy_rate(replicas: float, median: float, sigma: float = 0.6) -> float:
    """Arrivals a second that keep `replicas` busy with log-normal(median, sigma) work."""
    return replicas / (median * math.exp(sigma**2 / 2))
