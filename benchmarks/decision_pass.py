"""Time one decision pass of the policy for 1,000 pools over 100 tenants.

Two cases: a typical tick, where no shared ceiling binds, and a fleet under pressure, where
the cluster, both providers and every tenant's max_pods are short, so every tier is
water-filled. Each pass runs with history (time rules on), as the live loop does. Prints the
median and p95 over many passes.

    python benchmarks/decision_pass.py
"""

from __future__ import annotations

import random
import statistics
import time

from controller.core.config import Config, parse_config
from controller.core.history import History
from controller.core.model import Observations, Overrides, Pin, PoolObservation
from controller.core.policy import decide

POOLS, TENANTS, PASSES = 1000, 100, 300


def fleet(max_pods: int, rpm: int, tenant_max_pods: int | None) -> Config:
    tiers = ["enterprise", "growth", "starter"]
    return parse_config(
        {
            "cluster": {"max_pods": max_pods},
            "tiers": {"enterprise": {"priority": 1000}, "growth": {"priority": 500},
                      "starter": {"priority": 100}},
            "tenants": {
                f"t{i}": {"tier": tiers[i % 3], "daily_token_budget": 10_000_000,
                          "max_pods": tenant_max_pods}
                for i in range(TENANTS)
            },
            "providers": {"openai": {"rpm": rpm}, "anthropic": {"rpm": rpm}},
            "pools": {
                f"p{i}": {
                    "tenant": f"t{i % TENANTS}",
                    "deployment": {"name": f"p{i}"},
                    "queue": {"stream": "AGENT_TASKS", "consumer": f"p{i}"},
                    "provider": ["openai", "anthropic", None][i % 3],
                    "rpm_per_replica": 10 + i % 20,
                    "target_lag_per_replica": 1 + i % 4,
                    "min_replicas": i % 2,
                    "max_replicas": 20,
                }
                for i in range(POOLS)
            },
        }
    )  # fmt: skip


def observations(rng: random.Random) -> Observations:
    return Observations(
        pools={
            f"p{i}": PoolObservation(
                pending=rng.randint(0, 60),
                ack_pending=rng.randint(0, 8),
                replicas=rng.randint(0, 12),
                arrival_rate=rng.random(),
                mean_task_seconds=20.0,
            )
            for i in range(POOLS)
        },
        tokens_today={f"t{i}": rng.randint(0, 10_000_000) for i in range(TENANTS)},
    )


def measure(name: str, config: Config) -> None:
    rng = random.Random(7)
    obs = observations(rng)
    overrides = Overrides(pins={f"p{i}": Pin(2) for i in range(0, POOLS, 10)})
    history = History(config)
    decisions = decide(config, obs, overrides, history, now=0.0)
    history.record_tick(decisions, obs, 0.0)
    times = []
    for n in range(1, PASSES + 1):
        start = time.perf_counter()
        decisions = decide(config, obs, overrides, history, now=float(n))
        times.append(time.perf_counter() - start)
        history.record_tick(decisions, obs, float(n))
    times.sort()
    total = sum(d.desired for d in decisions)
    median, p95 = statistics.median(times) * 1e3, times[int(len(times) * 0.95)] * 1e3
    print(
        f"{name:<9} {POOLS} pools / {TENANTS} tenants: median {median:.2f} ms, "
        f"p95 {p95:.2f} ms  ({total} replicas decided)"
    )


if __name__ == "__main__":
    measure("typical", fleet(max_pods=100_000, rpm=1_000_000, tenant_max_pods=None))
    measure("pressure", fleet(max_pods=2_000, rpm=20_000, tenant_max_pods=60))
