"""agentdash against KEDA and the HPA on nine more shapes of agent fleets, written 2026-11-27.

They differ from the suite's and the held-out shapes in what the pools are: agent tasks of
minutes with hourly cron bursts, bursts on an exact 15-minute schedule, a trickle with
spikes of 200, pods that run 8 short tasks at once against a target of 2 (a KEDA
lagThreshold below the worker's concurrency), agentic tasks of 20-60 minutes with a 60 s
cold start, 27 pools of 9 tenants under a tight cluster cap, six pools bursting on one
provider's rpm, a lag target of 5 a single-task pod (KEDA's lagThreshold 5), and model
servers with 3-minute cold starts. Everything else is the suite's: its makings of a
workload, its build and backtest (`run_workload`), its judge and its table; every pool on
the defaults.

Not held out: `dense_concurrent` showed the rule that a rise of the tasks in flight must
last a cold start while nothing waits (controller.core.time_rules), and the other shapes
were looked at before this script was written. docs/policy.md gives their results and what
loses.

    python benchmarks/agent_shapes.py [--seeds 1,2] [--only NAME[,NAME]]
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable

import policy_suite as suite
import shape_sets
from workload_makings import HOUR, THREE, Draft, Row, burst, fleet, poisson, pools, tasks

# --- the shapes: each (random, scale) -> Draft, as the suite's ------------------------------


def long_agents(rng: random.Random, scale: float) -> Draft:
    end = 6 * HOUR * scale
    spec = pools(THREE, ("coder", "reviewer"), max_replicas=40, cold_start_seconds=30)
    draft = Draft(
        "agent tasks of 8 min (median) and an hourly cron burst of 20", fleet(THREE, spec, 150)
    )
    for name in spec:
        draft.rows += tasks(rng, poisson(rng, 1 / 40, 0, end), name, 480, 0.8)
        for hour in range(int(end // HOUR)):
            draft.rows += tasks(rng, burst(rng, hour * HOUR + 5, 20, 30), name, 300, 0.5)
    return draft


def cron_quarter(rng: random.Random, scale: float) -> Draft:
    end = 8 * HOUR * scale
    spec = pools(THREE, ("etl", "report"), max_replicas=30, cold_start_seconds=20)
    draft = Draft("bursts of 30-60 every 15 min exactly, quiet between", fleet(THREE, spec, 120))
    for name in spec:
        at = rng.uniform(0, 900)
        while at < end:
            draft.rows += tasks(rng, burst(rng, at, rng.randint(30, 60), 10), name, 30, 0.5)
            at += 900
    return draft


def trickle_spike(rng: random.Random, scale: float) -> Draft:
    end = 8 * HOUR * scale
    spec = pools(THREE, ("triage",), max_replicas=100, cold_start_seconds=25)
    draft = Draft("a task every 5 min, and two spikes of 200 at once", fleet(THREE, spec, 200))
    for name in spec:
        draft.rows += tasks(rng, poisson(rng, 1 / 300, 0, end), name, 40)
        for _ in range(2):
            draft.rows += tasks(rng, burst(rng, rng.uniform(0, end), 200, 3), name, 60)
    return draft


def dense_concurrent(rng: random.Random, scale: float) -> Draft:
    end = 4 * HOUR * scale
    spec = pools(THREE, ("chat",), max_replicas=60, concurrency=8, cold_start_seconds=15)
    draft = Draft("6 s tasks, 8 at once a pod, target 2; 3-12 a second", fleet(THREE, spec, 200))
    for name in spec:
        peak = rng.uniform(3, 12)
        swing = [
            t
            for t in poisson(rng, peak, 0, end)
            if rng.random() < 0.55 + 0.45 * math.sin(t / HOUR * math.pi)
        ]
        draft.rows += tasks(rng, swing, name, 6, 0.4)
    return draft


def hour_tasks(rng: random.Random, scale: float) -> Draft:
    end = 10 * HOUR * scale
    spec = pools(THREE, ("refactor",), max_replicas=25, cold_start_seconds=60)
    draft = Draft("agentic tasks of 20-60 min, one every 4 min a pool", fleet(THREE, spec, 60))
    for name in spec:
        for t in poisson(rng, 1 / 240, 0, end):
            work = rng.uniform(1200, 3600)
            draft.rows.append((round(t, 3), name, round(work, 1), int(work * 50)))
    return draft


def big_fleet_tight(rng: random.Random, scale: float) -> Draft:
    end = 4 * HOUR * scale
    tenants = {f"t{i}": ("enterprise", "growth", "starter")[i % 3] for i in range(9)}
    spec = pools(tenants, ("a", "b", "c"), max_replicas=20)
    draft = Draft("27 pools of 9 tenants, bursty, a cluster cap of 90", fleet(tenants, spec, 90))
    for name in spec:
        draft.rows += _stretches(
            rng, name, end, 600, busy_s=900, quiet_s=600, rates=(0.05, 0.2), median=30
        )
    return draft


def rpm_bursts(rng: random.Random, scale: float) -> Draft:
    end = 4 * HOUR * scale
    spec = pools(THREE, ("x", "y"), max_replicas=30, rpm_per_replica=20)
    for pool in spec.values():
        pool["provider"] = "p1"
    data = fleet(THREE, spec, 200, {"p1": 400})
    draft = Draft("six pools on one provider of 400 rpm (20 replicas), bursts of 50-150", data)
    for name in spec:
        for _ in range(int(8 * scale)):
            at, size = rng.uniform(0, end), rng.randint(50, 150)
            draft.rows += tasks(rng, burst(rng, at, size, 60), name, 40)
    return draft


def lag_five(rng: random.Random, scale: float) -> Draft:
    end = 6 * HOUR * scale
    spec = pools(
        THREE, ("worker",), max_replicas=40, target_lag_per_replica=5, cold_start_seconds=30
    )
    draft = Draft("target 5 a pod of one task at a time; bursty", fleet(THREE, spec, 150))
    for name in spec:
        draft.rows += _stretches(
            rng, name, end, 300, busy_s=600, quiet_s=400, rates=(0.1, 0.5), median=20
        )
    return draft


def gpu_slow_start(rng: random.Random, scale: float) -> Draft:
    end = 8 * HOUR * scale
    spec = pools(
        THREE,
        ("infer",),
        max_replicas=20,
        concurrency=4,
        target_lag_per_replica=4,
        cold_start_seconds=180,
    )
    draft = Draft("3-minute cold starts (a model to load), 4 at once", fleet(THREE, spec, 80))
    for name in spec:
        peak = rng.uniform(0.3, 1.0)
        rising = [
            t
            for t in poisson(rng, peak, 0, end)
            if rng.random() < 0.5 + 0.5 * math.sin(t / (2 * HOUR))
        ]
        draft.rows += tasks(rng, rising, name, 15, 0.5)
    return draft


def _stretches(
    rng: random.Random,
    pool: str,
    end: float,
    first: float,
    *,
    busy_s: float,
    quiet_s: float,
    rates: tuple[float, float],
    median: float,
) -> list[Row]:
    """Busy stretches (busy_s long on average, each at a rate drawn from `rates`) and quiet
    ones (quiet_s), the first starting within `first` seconds."""
    rows: list[Row] = []
    t = rng.uniform(0, first)
    while t < end:
        stop = min(end, t + rng.expovariate(1 / busy_s))
        rows += tasks(rng, poisson(rng, rng.uniform(*rates), t, stop), pool, median)
        t = stop + rng.expovariate(1 / quiet_s)
    return rows


SHAPES: dict[str, Callable[[random.Random, float], Draft]] = {
    shape.__name__: shape
    for shape in (long_agents, cron_quarter, trickle_spike, dense_concurrent, hour_tasks,
                  big_fleet_tight, rpm_bursts, lag_five, gpu_slow_start)
}  # fmt: skip
assert not SHAPES.keys() & suite.SHAPES.keys(), "a shape here has a suite shape's name"


def main(argv: list[str] | None = None) -> int:
    return shape_sets.main(SHAPES, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
