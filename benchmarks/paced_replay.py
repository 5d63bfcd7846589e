"""Time the backtest on a tenant its budget paces for days: one pool, a Poisson stream of
1,000-token tasks (one every 20 s, 10 to 60 s each) over three days, against a hard-capped
daily budget of 2,000,000 tokens, half of what the traffic asks for. The pace holds the pool
back for most of each day, so a replay spends its time where budgets cost it most.

It prints each policy's time, and for agentdash its ticks (how many quiet), its claims, and
what the pace let through: tasks completed and tokens over the budget (none).

    python benchmarks/paced_replay.py [DAYS]
"""

# ruff: noqa: E402 (the compiled modules are chosen before the hot modules are imported)

from __future__ import annotations

import random
import sys
import time

from controller.accel import use_compiled

COMPILED = use_compiled()  # before the hot modules are imported (make accel builds them)

from controller.core.config import Config, parse_config
from controller.simulate.backtest import make_scaler
from controller.simulate.clock import run
from controller.simulate.report import summarize
from controller.simulate.shell import VirtualLoop
from controller.simulate.trace import Trace

DAY_S = 86_400.0


def fleet() -> Config:
    return parse_config(
        {
            "tiers": {"gold": {"priority": 1}},
            "tenants": {"t1": {"tier": "gold", "daily_token_budget": 2_000_000,
                               "hard_cap": True}},
            "pools": {"a": {"tenant": "t1", "deployment": {"name": "a"},
                            "queue": {"stream": "S", "consumer": "a"}}},
        }
    )  # fmt: skip


def poisson(days: float, seed: int = 1) -> Trace:
    rng, rows, t = random.Random(seed), [], 0.0
    while t < days * DAY_S:
        t += rng.expovariate(0.05)
        rows.append((round(t, 3), 0, round(rng.uniform(10, 60), 3), 1000))
    return Trace.build(["a"], rows)


def main(days: float) -> None:
    config, trace = fleet(), poisson(days)
    hot = "compiled (make accel)" if COMPILED else "plain Python"
    print(f"{len(trace):,} tasks over {days:g} days, budget half the demand; the hot path {hot}:")
    for policy in ("keda", "agentdash"):
        scaler = make_scaler(policy, config)
        start = time.perf_counter()
        cluster = run(config, trace, scaler, trace.duration + 3600)
        seconds = time.perf_counter() - start
        summary = summarize(config, trace, cluster)
        line = (
            f"  {policy:<10} {seconds:6.2f} s, {summary['completed']:,} completed, "
            f"{summary['tokens_over_budget']:,} tokens over the budget"
        )
        if isinstance(scaler, VirtualLoop):
            line += (
                f"; {scaler.ticks:,} ticks ({scaler.skipped:,} quiet), {scaler.claimed:,} claims"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
