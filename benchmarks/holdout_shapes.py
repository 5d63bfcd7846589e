"""agentdash against KEDA and the HPA on eight held-out shapes, traffic it was not tuned on.

The shapes differ in kind from benchmarks/policy_suite.py's: a weekly-style ramp with a cliff,
Pareto-sized bursts, twenty small pools, mixed concurrency, two-minute cold starts, a steady
low tier under a bursting high tier, bimodal task times, and a soft-capped budget. Everything
else is the suite's: its makings of a workload, its build and backtest (`run_workload`), its
judge and its table; every pool stays on the default `behavior` and cooldown. This is a
measurement: nothing here is tuned to the results.

    python benchmarks/holdout_shapes.py [--seeds 1,2] [--only NAME[,NAME]]
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable

import policy_suite as suite
import shape_sets
from workload_makings import HOUR, THREE, Draft, burst, busy_rate, fleet, poisson, pools, tasks

TIER_NAMES = ("enterprise", "growth", "starter")


def thinned(
    rng: random.Random, peak: float, rate: Callable[[float], float], start: float, end: float
) -> list[float]:
    """Arrivals of a Poisson process whose rate at t is `rate(t)` (at most `peak`)."""
    return [t for t in poisson(rng, peak, start, end) if rng.random() * peak < rate(t)]


# --- the shapes: each (random, scale) -> Draft, as the suite's ------------------------------


def weekly_ramp(rng: random.Random, scale: float) -> Draft:
    rise, after = 6 * HOUR * scale, 1.5 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("agent", "batch"), max_replicas=20), 120)
    about = "a slow rise over 6 h from 5% to 100% of the peak rate, then a cliff to 5%"
    draft = Draft(about, data)
    for name in data["pools"]:
        median = rng.uniform(25, 60)
        peak = busy_rate(rng.uniform(8, 14), median)

        def rate(t: float, peak: float = peak) -> float:
            return peak * (0.05 + 0.95 * t / rise) if t < rise else 0.05 * peak

        draft.rows += tasks(rng, thinned(rng, peak, rate, 0, rise + after), name, median)
    return draft


def pareto_bursts(rng: random.Random, scale: float) -> Draft:
    end = 5 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("plan", "code"), max_replicas=25), 100)
    about = "a trickle, and bursts at random times of Pareto(1.2) size (3 to 300 tasks)"
    draft = Draft(about, data)
    for name in data["pools"]:
        median = rng.uniform(20, 60)
        times = poisson(rng, 1 / rng.uniform(300, 600), 0, end)
        for at in poisson(rng, 1 / (25 * 60), 0, end):
            size = min(300, round(3 * rng.paretovariate(1.2)))
            times += burst(rng, at, size, rng.uniform(5, 30))
        draft.rows += tasks(rng, times, name, median)
    return draft


def many_small_pools(rng: random.Random, scale: float) -> Draft:
    end = 6 * HOUR * scale
    tenants = {f"t{i}": TIER_NAMES[i % 3] for i in range(10)}
    spec = {
        f"t{i}-{kind}": {"tenant": f"t{i}", "max_replicas": rng.randint(1, 3)}
        for i in range(10)
        for kind in ("a", "b")
    }
    data = fleet(tenants, spec, 40)
    draft = Draft("20 pools of 1-3 replicas, a task every 5-30 min, small bursts of 2-6", data)
    for name in data["pools"]:
        median = rng.uniform(15, 120)
        times = poisson(rng, 1 / rng.uniform(300, 1800), 0, end)
        for at in poisson(rng, 1 / (2 * HOUR), 0, end):
            times += burst(rng, at, rng.randint(2, 6))
        draft.rows += tasks(rng, times, name, median)
    return draft


def mixed_concurrency(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    spec = {
        name: pool
        | {
            "max_replicas": rng.randint(10, 20),
            "concurrency": rng.randint(4, 8),
            "target_lag_per_replica": rng.randint(1, 10),
        }
        for name, pool in pools(THREE, ("chat", "tools")).items()
    }
    data = fleet(THREE, spec, 80)
    draft = Draft("concurrency 4-8 a pod, target lag 1-10 a replica; the rate drifts", data)
    for name, pool in data["pools"].items():
        median, slots = rng.uniform(20, 60), pool["concurrency"]
        low, high = busy_rate(slots * 1, median), busy_rate(slots * 6, median)
        t = 0.0
        while t < end:  # 10-40 min stretches, each at a rate of its own
            stop = min(end, t + rng.uniform(600, 2400))
            draft.rows += tasks(rng, poisson(rng, rng.uniform(low, high), t, stop), name, median)
            t = stop
    return draft


def slow_cold_start(rng: random.Random, scale: float) -> Draft:
    end = 4 * HOUR * scale
    spec = pools(THREE, ("agent", "batch"), max_replicas=20, cold_start_seconds=120)
    data = fleet(THREE, spec, 100)
    draft = Draft("pods ready 120 s after they are asked for; bursts of 10-40 every ~20 min", data)
    for name in data["pools"]:
        median = rng.uniform(30, 90)
        times = poisson(rng, busy_rate(1, median), 0, end)
        for at in poisson(rng, 1 / (20 * 60), 0, end):
            times += burst(rng, at, rng.randint(10, 40), 20)
        draft.rows += tasks(rng, times, name, median)
    return draft


def steady_low_bursty_high(rng: random.Random, scale: float) -> Draft:
    end = 4 * HOUR * scale
    tenants = {"bulkco": "starter", "vipco": "enterprise"}
    spec = pools({"bulkco": "starter"}, ("crawl", "summarize"), max_replicas=15)
    spec |= pools({"vipco": "enterprise"}, ("assist", "review"), max_replicas=20)
    data = fleet(tenants, spec, 30)
    about = "starter busy steadily on ~20 of 30 pods; enterprise bursts of 40-120 every ~30 min"
    draft = Draft(about, data)
    for name in data["pools"]:
        median = rng.uniform(30, 60)
        if name.startswith("bulkco"):
            times = poisson(rng, busy_rate(10, median), 0, end)
        else:
            times = poisson(rng, busy_rate(0.5, median), 0, end)
            for at in poisson(rng, 1 / (30 * 60), 0, end):
                times += burst(rng, at, rng.randint(40, 120), 15)
        draft.rows += tasks(rng, times, name, median)
    return draft


def bimodal(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("mixed",), max_replicas=30), 90)
    draft = Draft("one pool a tenant, its tasks ~5 s or ~5 min (a third to half long)", data)
    for name in data["pools"]:
        long_share = rng.uniform(0.3, 0.5)
        mean = (1 - long_share) * 5 + long_share * 300
        for t in poisson(rng, rng.uniform(6, 12) / mean, 0, end):
            long = rng.random() < long_share
            draft.rows += tasks(rng, [t], name, 300 if long else 5, 0.15)
    return draft


def soft_budget(rng: random.Random, scale: float) -> Draft:
    end = 4 * HOUR * scale
    spec = pools({"globex": "growth"}, ("agent", "batch", "index", "eval"), max_replicas=12)
    spec |= pools({"acme": "enterprise", "initech": "starter"}, ("agent", "batch"),
                  max_replicas=12)  # fmt: skip
    data = fleet(THREE, spec, 80)
    about = "globex (growth, 4 pools) asks for 1.4x its daily token budget, soft cap"
    draft = Draft(about, data, held_tiers=("growth",))
    for name in data["pools"]:
        median = rng.uniform(20, 60)
        times = poisson(rng, busy_rate(rng.uniform(1, 3), median), 0, end)
        for at in poisson(rng, 1.5 / HOUR, 0, end):
            times += burst(rng, at, rng.randint(5, 20))
        draft.rows += tasks(rng, times, name, median)
    asked = sum(tokens for _, name, _, tokens in draft.rows if name.startswith("globex"))
    data["tenants"]["globex"].update(daily_token_budget=round(asked / 1.4), hard_cap=False)
    return draft


HOLDOUT: dict[str, Callable[[random.Random, float], Draft]] = {
    shape.__name__: shape
    for shape in (weekly_ramp, pareto_bursts, many_small_pools, mixed_concurrency,
                  slow_cold_start, steady_low_bursty_high, bimodal, soft_budget)
}  # fmt: skip
assert not HOLDOUT.keys() & suite.SHAPES.keys(), "a held-out shape has a suite shape's name"


def main(argv: list[str] | None = None) -> int:
    return shape_sets.main(HOLDOUT, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
