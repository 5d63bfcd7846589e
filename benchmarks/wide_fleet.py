"""Time the backtest on a wide fleet: many pools of a few tasks an hour each, more scale calls
than the Kubernetes client's bucket allows (`kubernetes.qps`, 5 a second by default), so a
backlog of pools waits for a token at every tick.

A pool whose call waits is acted on again at the next tick without being claimed again
(controller.core.engine `retry`): nothing it reads has moved. The line for agentdash gives the
claims made, which stay near the pools' changes however long the backlog is.

    python benchmarks/wide_fleet.py [POOLS] [HOURS]
"""

# ruff: noqa: E402 (the compiled modules are chosen before the hot modules are imported)

from __future__ import annotations

import sys
import time

from controller.accel import use_compiled

COMPILED = use_compiled()  # before the hot modules are imported (make accel builds them)

from controller.core.config import Config, parse_config
from controller.simulate.backtest import make_scaler
from controller.simulate.clock import run
from controller.simulate.generate import generate
from controller.simulate.shell import VirtualLoop

POOLS, HOURS, SEED, TASKS_A_POOL_HOUR = 2000, 1.0, 3, 9


def fleet(pools: int) -> Config:
    return parse_config(
        {
            "cluster": {"max_pods": 5000},
            "tiers": {"gold": {"priority": 1}},
            "tenants": {"t1": {"tier": "gold"}},
            "pools": {
                f"p{i}": {
                    "tenant": "t1",
                    "deployment": {"name": f"p{i}"},
                    "queue": {"stream": "TASKS", "consumer": f"p{i}"},
                }
                for i in range(pools)
            },
        }
    )


def main(pools: int, hours: float) -> None:
    config = fleet(pools)
    tasks = round(pools * hours * TASKS_A_POOL_HOUR)
    trace = generate(config, "spiky", hours, SEED, tasks=tasks)
    print(
        f"{len(trace):,} tasks over {pools:,} pools, {hours:g} h "
        f"({'compiled' if COMPILED else 'plain Python'}; kubernetes.qps "
        f"{config.kubernetes.qps:g})"
    )
    for policy in ("keda", "hpa", "agentdash"):
        scaler = make_scaler(policy, config)
        start = time.process_time()
        cluster = run(config, trace, scaler, trace.duration + 3600)
        seconds = time.process_time() - start
        line = f"  {policy:<10} {seconds:6.1f} CPU s, {cluster.completed:,} completed"
        if isinstance(scaler, VirtualLoop):
            line += (
                f"; {scaler.claimed:,} claims over {scaler.ticks:,} ticks, "
                f"{scaler.throttled:,} calls waited for a token"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else POOLS,
        float(sys.argv[2]) if len(sys.argv) > 2 else HOURS,
    )
