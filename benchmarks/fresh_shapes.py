"""agentdash against KEDA and the HPA on seven shapes written 2026-11-29, after the policy.

A square wave (5 minutes on, 5 off), a rate that swings on a 6-15 minute period, a step up
that stays, heavy-tailed task times, two pools of 40-100 busy pods, 60 s cold starts under
short tasks in bursts, and pods that take 8 tasks at once against a target of 8. Everything
else is the suite's (benchmarks/shape_sets.py); every pool on the defaults.

Measured once with the policy as it was (seeds 92-94, docs/policy.md); one rule was tried on
seeds 92 and 93 and not taken. New checks need seeds from 95.

    python benchmarks/fresh_shapes.py [--seeds 95,96] [--only NAME[,NAME]]
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable

import policy_suite as suite
import shape_sets
from holdout_shapes import thinned
from workload_makings import HOUR, THREE, Draft, burst, busy_rate, fleet, poisson, pools, tasks

# --- the shapes: each (random, scale) -> Draft, as the suite's ------------------------------


def square_wave(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("a", "b"), max_replicas=20), 120)
    draft = Draft("5 min on at 5-10 busy replicas, 5 min off", data)
    for name in data["pools"]:
        median = rng.uniform(10, 40)
        peak = busy_rate(rng.uniform(5, 10), median)
        phase = rng.uniform(0, 600)

        def rate(t: float, peak: float = peak, phase: float = phase) -> float:
            return peak if (t + phase) % 600 < 300 else 0.0

        draft.rows += tasks(rng, thinned(rng, peak, rate, 0, end), name, median)
    return draft


def minute_sine(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("a", "b"), max_replicas=25), 140)
    draft = Draft("a rate that swings from 10% to 100% on a 6-15 min period", data)
    for name in data["pools"]:
        median = rng.uniform(10, 40)
        peak = busy_rate(rng.uniform(6, 14), median)
        period = rng.uniform(360, 900)

        def rate(t: float, peak: float = peak, period: float = period) -> float:
            return peak * (0.55 + 0.45 * math.sin(2 * math.pi * t / period))

        draft.rows += tasks(rng, thinned(rng, peak, rate, 0, end), name, median)
    return draft


def step_up(rng: random.Random, scale: float) -> Draft:
    end, step = 4 * HOUR * scale, 1.5 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("a", "b"), max_replicas=30), 160)
    draft = Draft("1.5 h at ~2 busy replicas, then ~9 for good", data)
    for name in data["pools"]:
        median = rng.uniform(15, 60)
        draft.rows += tasks(rng, poisson(rng, busy_rate(2, median), 0, step), name, median)
        draft.rows += tasks(rng, poisson(rng, busy_rate(9, median), step, end), name, median)
    return draft


def heavy_tail(rng: random.Random, scale: float) -> Draft:
    end = 4 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("a", "b"), max_replicas=30), 150)
    draft = Draft("log-normal task times of sigma 1.4 (5 s to 15 min), Poisson", data)
    for name in data["pools"]:
        median = rng.uniform(8, 25)
        times = poisson(rng, busy_rate(rng.uniform(3, 8), median, 1.4), 0, end)
        draft.rows += tasks(rng, times, name, median, sigma=1.4)
    return draft


def big_pools(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    tenants = {"acme": "enterprise", "globex": "growth"}
    data = fleet(tenants, pools(tenants, ("chat",), max_replicas=150), 400)
    draft = Draft("two pools of 40-100 busy pods, the rate moving every 2-15 min", data)
    for name in data["pools"]:
        median, t = rng.uniform(6, 15), 0.0
        while t < end:
            stop = min(end, t + rng.uniform(120, 900))
            rate = busy_rate(rng.uniform(40, 100), median)
            draft.rows += tasks(rng, poisson(rng, rate, t, stop), name, median)
            t = stop
    return draft


def cold_minute(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    spec = pools(THREE, ("a", "b"), max_replicas=20, cold_start_seconds=60)
    data = fleet(THREE, spec, 120)
    draft = Draft("60 s cold starts, 5-8 s tasks, bursts of 10-40 every 2-6 min", data)
    for name in data["pools"]:
        median = rng.uniform(5, 8)
        times, t = poisson(rng, busy_rate(0.5, median), 0, end), 0.0
        while t < end:
            t += rng.uniform(120, 360)
            times += burst(rng, t, rng.randint(10, 40), 10)
        draft.rows += tasks(rng, [at for at in times if at < end], name, median)
    return draft


def eight_at_once(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    spec = pools(THREE, ("a",), max_replicas=15, concurrency=8, target_lag_per_replica=8)
    data = fleet(THREE, spec, 50)
    draft = Draft("8 tasks at once a pod, target 8 a replica; the rate drifts", data)
    for name in data["pools"]:
        median, t = rng.uniform(20, 60), 0.0
        while t < end:
            stop = min(end, t + rng.uniform(300, 1800))
            rate = busy_rate(rng.uniform(8, 80), median)
            draft.rows += tasks(rng, poisson(rng, rate, t, stop), name, median)
            t = stop
    return draft


SHAPES: dict[str, Callable[[random.Random, float], Draft]] = {
    shape.__name__: shape
    for shape in (square_wave, minute_sine, step_up, heavy_tail, big_pools, cold_minute,
                  eight_at_once)
}  # fmt: skip
assert not SHAPES.keys() & suite.SHAPES.keys(), "a shape here has a suite shape's name"


def main(argv: list[str] | None = None) -> int:
    return shape_sets.main(SHAPES, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
