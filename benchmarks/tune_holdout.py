"""Does `agentdash tune` beat the defaults out of sample? On each workload of the policy suite
(by default the real-trace ones), every pool on the defaults, the search runs on the first 70%
of the trace's time, as `agentdash tune` does, and its pick and the defaults are replayed on the
last 30%, which the search never saw. A pick "beats the defaults" there when its p95 and its
pod-seconds are both lower; "no change" when the search found nothing that beats the defaults
on its own part of the trace by more than 1% (tune then changes nothing).

    python benchmarks/tune_holdout.py [--seeds 1] [--only NAME[,NAME]] [--objective both]
        [--trials 96] [--time-budget 120] [--servegen]

`--servegen` runs benchmarks/holdout_servegen.py's days instead (not shipped: read from where
that script says), whose six pools are each a different client's traffic.
"""

# ruff: noqa: E402 (the compiled modules are chosen before the hot modules are imported)

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any
from unittest.mock import patch

from controller.accel import use_compiled

COMPILED = use_compiled()  # before the hot modules are imported (make accel builds them)

import policy_suite
from holdout_servegen import HOLDOUT as SERVEGEN
from policy_suite import build
from real_traces import REAL

from controller.simulate import behavior_grid, tune
from controller.simulate.tradeoff import Objective, Outcome, warm_wait

HOLDOUT = 0.3


def tuned(name: str, seed: int, objective: str, trials: int, budget: float) -> dict[str, Any]:
    """One workload: the search on the head, the pick and the defaults on the tail."""
    _, config, trace = build(name, seed)
    picking = replace(Objective.parse(objective), warm_s=warm_wait(config))
    parts = tune.split(trace, HOLDOUT)
    groups = behavior_grid.groups(config, parts.head, "pool")
    found = tune.search(
        config,
        parts.head,
        groups,
        horizon=tune.horizon_of(parts.head, parts.at),
        objective=picking,
        trials=trials,
        time_budget=budget,
    )
    row: dict[str, Any] = {"workload": name, "seed": seed, "candidates": len(found.trials)}
    chosen = found.chosen
    if chosen.number == 0:
        return row | {"verdict": "no change"}
    current, picked = tune.check(
        config.replayed_later(parts.at),  # as agentdash tune: the tail's budget days as they were
        found.groups,
        [found.current.candidate, chosen.candidate],
        parts.tail,
        tune.horizon_of(parts.tail, 0.0),
    )
    return row | {
        "pick": [
            f"{group.name}: {setting.describe()}"
            for group, setting in zip(found.groups, chosen.candidate, strict=True)
            if setting is not None
        ],
        "head": _versus(chosen.outcome, found.current.outcome),
        "tail": _versus(picked, current),
        "verdict": _verdict(picked, current),
    }


def _versus(outcome: Outcome, reference: Outcome) -> dict[str, float]:
    return {
        "p95_s": round(outcome.p95, 2),
        "defaults_p95_s": round(reference.p95, 2),
        "pod_seconds_ratio": round(outcome.pod_seconds / max(reference.pod_seconds, 1e-9), 4),
    }


def _verdict(picked: Outcome, current: Outcome) -> str:
    faster = picked.p95 < current.p95
    cheaper = picked.pod_seconds < current.pod_seconds
    if faster and cheaper:
        return "beats the defaults"
    slower = picked.p95 > current.p95
    dearer = picked.pod_seconds > current.pod_seconds
    worse = [what for what, bad in (("p95", slower), ("pod-seconds", dearer)) if bad]
    return f"worse on {' and '.join(worse)}" if worse else "no better"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--only", help=f"default: {','.join(REAL)}")
    parser.add_argument("--objective", default="both")
    parser.add_argument("--trials", type=int, default=96)
    parser.add_argument("--time-budget", type=float, default=120.0)
    parser.add_argument("--servegen", action="store_true", help="ServeGen's days instead")
    args = parser.parse_args()
    shapes = SERVEGEN if args.servegen else REAL
    names = args.only.split(",") if args.only else list(shapes)
    counts: dict[str, int] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in names:
            with patch.dict(policy_suite.SHAPES, shapes):
                row = tuned(name, seed, args.objective, args.trials, args.time_budget)
            counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
            print(json.dumps(row), flush=True)
    print(json.dumps({"summary": counts, "compiled": COMPILED}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
