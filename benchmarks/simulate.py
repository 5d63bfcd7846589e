"""Time the backtest on a day of a large fleet: 100 pools over 20 tenants, ~1,000,000 tasks in
24 hours (a bursty trace), replayed under each policy.

For agentdash it also says how many pools a tick had to claim again (controller.core.policy.claim:
the others' inputs had not changed), and, in a second, instrumented run, how much of the time
the policy itself took (claim, demanded, allocate and the history's recording), which no
simulator change can reduce. The same day with a 10 s controller interval shows how that
cost scales with ticks.

The hot path runs compiled when `make accel` has built it for these sources; set
AGENTDASH_PURE=1 for plain Python (the instrumented run needs plain Python to time inside).

    python benchmarks/simulate.py [TASKS]
"""

# ruff: noqa: E402 (the compiled modules are chosen before the hot modules are imported)

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from controller.accel import use_compiled

COMPILED = use_compiled()  # before the hot modules are imported (make accel builds them)

import controller.core.engine as engine_module
import controller.core.sharing as sharing
from controller.core.config import Config, parse_config
from controller.core.history import History
from controller.simulate.backtest import backtest, make_scaler
from controller.simulate.clock import run
from controller.simulate.generate import generate
from controller.simulate.lower_bound import clairvoyant, lower_bound
from controller.simulate.shell import VirtualLoop
from controller.simulate.trace import Trace, load_trace, write_trace

POOLS, TENANTS, HOURS, SEED = 100, 20, 24, 7


def fleet(interval: float = 1.0) -> Config:
    tiers = ["enterprise", "growth", "starter"]
    return parse_config(
        {
            "cluster": {"max_pods": 1500},
            "tiers": {"enterprise": {"priority": 1000}, "growth": {"priority": 500},
                      "starter": {"priority": 100}},
            "tenants": {
                f"t{i}": {"tier": tiers[i % 3], "daily_token_budget": 400_000_000,
                          "max_pods": 150}
                for i in range(TENANTS)
            },
            "controller": {"interval_seconds": interval},
            "providers": {"openai": {"rpm": 200_000}, "anthropic": {"rpm": 200_000}},
            "pools": {
                f"p{i}": {
                    "tenant": f"t{i % TENANTS}",
                    "deployment": {"name": f"p{i}"},
                    "queue": {"stream": "AGENT_TASKS", "consumer": f"p{i}"},
                    "provider": ["openai", "anthropic"][i % 2],
                    "rpm_per_replica": 10,
                    "target_lag_per_replica": 2,
                    "max_replicas": 40,
                    "concurrency": 1 + i % 2,
                }
                for i in range(POOLS)
            },
        }
    )  # fmt: skip


class PolicyClock:
    """Wall time spent inside the policy, as the simulator calls it."""

    WRAPPED = ((engine_module, "claim"), (engine_module, "demanded"), (sharing, "allocate_short"))
    """Where the engine looks each one up, and its name there."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._saved = {(module, name): getattr(module, name) for module, name in self.WRAPPED}
        self._record = History.record_pool

    def _timed(self, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed

    def __enter__(self) -> PolicyClock:
        for (module, name), function in self._saved.items():
            setattr(module, name, self._timed(function))
        History.record_pool = self._timed(self._record)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for (module, name), function in self._saved.items():
            setattr(module, name, function)
        History.record_pool = self._record  # type: ignore[method-assign]


def timed_run(config: Config, trace: Trace, policy: str) -> None:
    scaler = make_scaler(policy, config)
    horizon = trace.duration + 3600
    start = time.perf_counter()
    cluster = run(config, trace, scaler, horizon)
    seconds = time.perf_counter() - start
    name = policy
    if isinstance(scaler, VirtualLoop):
        name += f" (ticks every {config.controller.interval_seconds:g} s)"
    line = (
        f"  {name:<30} {seconds:6.1f} s ({len(trace) / seconds:,.0f} tasks/s), "
        f"{cluster.completed:,} completed"
    )
    if isinstance(scaler, VirtualLoop):
        line += (
            f"; {scaler.ticks:,} ticks ({scaler.skipped:,} quiet), "
            f"{scaler.claimed / scaler.ticks:.1f} of {len(config.pools)} pools claimed a tick"
        )
    print(line, flush=True)


def policy_share(config: Config, trace: Trace) -> None:
    scaler = make_scaler("agentdash", config)
    with PolicyClock() as clock:
        start = time.perf_counter()
        run(config, trace, scaler, trace.duration + 3600)
        seconds = time.perf_counter() - start
    print(f"  agentdash, instrumented: {seconds:.1f} s, of which the policy {clock.seconds:.1f} s "
          f"and the simulator {seconds - clock.seconds:.1f} s")  # fmt: skip


def main(tasks: int) -> None:
    config = fleet()
    start = time.perf_counter()
    trace = generate(config, "bursty", HOURS, SEED, tasks=tasks)
    print(f"generate: {len(trace):,} tasks, {POOLS} pools, {HOURS} h: "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        start = time.perf_counter()
        with path.open("w") as out:
            write_trace(trace, out)
        written = time.perf_counter() - start
        start = time.perf_counter()
        assert load_trace(path, config) == trace
        print(f"trace file: write {written:.1f} s, read {time.perf_counter() - start:.1f} s")
    hot = "compiled (make accel)" if COMPILED else "plain Python"
    print(f"simulate (virtual time, 24 h + 1 h to drain), the hot path {hot}:", flush=True)
    for policy in ("hpa", "keda", "agentdash"):
        timed_run(config, trace, policy)
    timed_run(fleet(interval=10.0), trace, "agentdash")
    if not COMPILED:  # compiled callers cannot be timed from outside
        policy_share(config, trace)
    horizon = trace.duration + 3600
    start = time.perf_counter()
    lower_bound(config, trace, horizon, 60.0)
    clairvoyant(config, trace, horizon)
    print(f"lower bound + clairvoyant plan: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    backtest(config, trace, drain_s=3600).as_dict()
    print(f"the whole backtest (agentdash simulate --policy all, the trace loaded): "
          f"{time.perf_counter() - start:.1f} s, the three policies side by side")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
