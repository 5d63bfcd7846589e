"""Random budgeted fleets replayed under agentdash: where a budget is overspent or left unspent.

Each case draws one to three pools over one or two tenants: budgets from 50,000 to 5,000,000
tokens a day, hard or soft caps, warn_at, resets at other hours and in other time zones;
tasks of 100 to 10,000 tokens, 5 to 120 s, one to four at once a pod, cold starts of 5 to
60 s; half a day to two days of Poisson arrivals, busier from 08:00 to 20:00 UTC. Most ask
for far more than their budgets pay for. Per case it prints the tasks done, the tokens over
a hard cap, and per tenant the tokens of the tasks started over what its budget pays for the
horizon (its days, pro rata: up to about 1.5 where a short trace meets two budget days).

    python benchmarks/budget_fleets.py [FIRST [LAST]]   # cases FIRST..LAST-1 (default 0 48)
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from controller.core.config import Config, parse_config
from controller.simulate.backtest import make_scaler
from controller.simulate.clock import run
from controller.simulate.report import summarize
from controller.simulate.trace import Trace

DAY_S = 86_400.0


def fleet(rng: random.Random) -> dict[str, Any]:
    pools, tenants = rng.randint(1, 3), rng.randint(1, 2)
    spend: dict[str, Any] = {}
    for k in range(tenants):
        tenant: dict[str, Any] = {"tier": "gold"}
        tenant["daily_token_budget"] = rng.choice([50_000, 200_000, 1_000_000, 5_000_000])
        tenant["hard_cap"] = rng.random() < 0.6
        tenant["warn_at"] = rng.choice([0.5, 0.8, 0.95])
        if rng.random() < 0.3:
            tenant["budget_reset"] = rng.choice(["00:00", "09:00", "17:30"])
            tenant["time_zone"] = rng.choice(["UTC", "Europe/Berlin", "Asia/Kolkata"])
        spend[f"t{k}"] = tenant
    specs = {}
    for i in range(pools):
        specs[f"p{i}"] = {
            "tenant": f"t{rng.randrange(tenants)}",
            "deployment": {"name": f"p{i}"},
            "queue": {"stream": "S", "consumer": f"p{i}"},
            "max_replicas": rng.choice([3, 10, 30]),
            "concurrency": rng.choice([1, 2, 4]),
            "cold_start_seconds": rng.choice([5, 20, 60]),
        }
    return {"tiers": {"gold": {"priority": 1}}, "tenants": spend, "pools": specs}


def traffic(rng: random.Random, config: Config) -> Trace:
    rows = []
    days = rng.choice([0.5, 1, 2])
    for i in range(len(config.pools)):
        rate, t = rng.choice([0.01, 0.05, 0.2]), rng.uniform(0, 3600)
        tokens = rng.choice([100, 1000, 10_000])
        while t < days * DAY_S:
            busy = 8 < (t / 3600) % 24 < 20
            t += rng.expovariate(rate * (1.5 if busy else 0.3))
            rows.append((round(t, 3), i, round(rng.uniform(5, 120), 3), tokens))
    return Trace.build(list(config.pools), sorted(rows))


def case(number: int) -> dict[str, Any]:
    rng = random.Random(number)
    data = fleet(rng)
    config = parse_config(data)
    trace = traffic(rng, config)
    horizon = trace.duration + 3600
    cluster = run(config, trace, make_scaler("agentdash", config), horizon)
    summary = summarize(config, trace, cluster)
    names = list(config.pools)
    started: dict[str, int] = {}
    for k in range(len(trace)):
        if cluster.wait[k] >= 0:
            tenant = config.pools[names[trace.pool[k]]].tenant
            started[tenant] = started.get(tenant, 0) + trace.tokens[k]
    days = horizon / DAY_S
    hard = [name for name, tenant in data["tenants"].items() if tenant["hard_cap"]]
    return {
        "case": number,
        "tasks": len(trace),
        "completed": summary["completed"],
        "over_hard_cap": sum(summary["tokens_over_budget_by_tenant"].get(n, 0) for n in hard),
        "started_over_budget": {
            name: round(started.get(name, 0) / (tenant["daily_token_budget"] * days), 2)
            for name, tenant in data["tenants"].items()
        },
        "reversals": summary["reversals"],
    }


if __name__ == "__main__":
    first = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    last = int(sys.argv[2]) if len(sys.argv) > 2 else 48
    for number in range(first, last):
        print(json.dumps(case(number)), flush=True)
