"""What a set of suite runs comes to, by the measures issue 21 judges the defaults on: the
workloads won; over the real-trace ones, agentdash's p95 and pod-seconds against the better
and the cheaper baseline (geometric means, p95s under a second counted as a second, since
a wait no one would notice is no loss or win); the runs where every tier waits at most 1.5x
its better baseline (a tier a budget holds back on purpose aside); reversals against KEDA's;
and the tasks left pending at the end under each policy. Beside what is judged, the real
traces' median wait against the better baseline's (the same geometric mean): a p95 can match
a baseline's while most tasks wait longer.

policy_suite.py, holdout_servegen.py, holdout_real.py and holdout_shapes.py print it after
their runs: one command per set of seeds gives every figure docs/policy.md quotes.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

BASELINES = ("keda", "hpa")
NOTICED_S = 1.0
"""A p95 below this counts as this: both a 0.0 s and a 0.5 s wait go unnoticed."""
TIER_BOUND = 1.5
"""How much longer than its better baseline a tier may wait at p95."""


@dataclass(frozen=True)
class Summary:
    runs: int
    wins: int
    real_runs: int
    real_wins: int
    real_p95: float | None
    """Geometric mean of agentdash's p95 over the better baseline's, on the real traces."""
    real_cost: float | None
    """Geometric mean of its pod-seconds over the cheaper baseline's, on the real traces."""
    real_p50: float | None
    """Geometric mean of its median wait over the better baseline's, on the real traces
    (medians under a second counted as a second; None: none read)."""
    tiers_within: int
    """Runs where every tier's p95 is within TIER_BOUND of its better baseline's."""
    reversals: dict[str, int]
    pending: dict[str, int]

    def lines(self) -> list[str]:
        keda = self.reversals["keda"]
        times = self.reversals["agentdash"] / keda if keda else math.inf
        lines = [f"agentdash wins {self.wins} of {self.runs}"]
        if self.real_runs:
            lines.append(
                f"real traces: {self.real_wins} of {self.real_runs} won; p95 {_x(self.real_p95)} "
                f"the better baseline's, pod-seconds {_x(self.real_cost)} the cheaper one's "
                f"(geometric means, p95s under {NOTICED_S:g} s counted as {NOTICED_S:g} s)"
            )
        if self.real_p50 is not None:
            lines.append(
                f"real traces' median wait: {_x(self.real_p50)} the better baseline's "
                f"(not judged; geometric mean, medians under {NOTICED_S:g} s counted as "
                f"{NOTICED_S:g} s)"
            )
        lines += [
            f"every tier's p95 within {TIER_BOUND:g}x its better baseline's: "
            f"{self.tiers_within} of {self.runs}",
            f"reversals: agentdash {self.reversals['agentdash']:,}, KEDA {keda:,} "
            f"({times:.2f}x), HPA {self.reversals['hpa']:,}",
            "left pending at the end: "
            + ", ".join(f"{name} {count:,}" for name, count in self.pending.items()),
        ]
        return lines


def summarize(rows: Iterable[dict[str, Any]], real: Collection[str]) -> Summary:
    """`rows` as policy_suite.run_workload returns them; `real`: the real-trace workloads."""
    rows = list(rows)
    reals = [row for row in rows if row["workload"] in real]
    policies = ("agentdash", *BASELINES)
    return Summary(
        runs=len(rows),
        wins=sum(row["verdict"] == "WIN" for row in rows),
        real_runs=len(reals),
        real_wins=sum(row["verdict"] == "WIN" for row in reals),
        real_p95=_geomean(_p95_ratio(row) for row in reals),
        real_cost=_geomean(_cost_ratio(row) for row in reals),
        real_p50=_medians(reals),
        tiers_within=sum(_tiers_within(row) for row in rows),
        reversals={p: sum(row["policies"][p]["reversals"] for row in rows) for p in policies},
        pending={p: sum(row["policies"][p]["pending"] for row in rows) for p in policies},
    )


def _medians(rows: list[dict[str, Any]]) -> float | None:
    read = [row for row in rows if "wait_p50_s" in row["policies"]["agentdash"]]
    if not read:
        return None  # (rows saved before the median was)
    return _geomean(_ratio_of(row, "wait_p50_s") for row in read)


def _noticed(p95: float) -> float:
    return max(p95, NOTICED_S)


def _p95_ratio(row: dict[str, Any]) -> float:
    return _ratio_of(row, "wait_p95_s")


def _ratio_of(row: dict[str, Any], wait: str) -> float:
    """agentdash's `wait` over the better baseline's, each at least NOTICED_S."""
    policies = row["policies"]
    better = min(policies[b][wait] for b in BASELINES)
    return _noticed(policies["agentdash"][wait]) / _noticed(better)


def _cost_ratio(row: dict[str, Any]) -> float:
    policies = row["policies"]
    cheaper = min(policies[b]["pod_seconds"] for b in BASELINES)
    ours = policies["agentdash"]["pod_seconds"]
    return ours / cheaper if cheaper > 0 else (1.0 if ours <= 0 else math.inf)


def _tiers_within(row: dict[str, Any]) -> bool:
    policies = row["policies"]
    for tier, ours in policies["agentdash"]["tier_p95_s"].items():
        if tier in row["held_tiers"] or ours is None:
            continue
        theirs = [policies[b]["tier_p95_s"].get(tier) for b in BASELINES]
        known = [p95 for p95 in theirs if p95 is not None]
        if known and _noticed(ours) > TIER_BOUND * _noticed(min(known)):
            return False
    return True


def _geomean(ratios: Iterable[float]) -> float | None:
    logs = [math.log(r) if r > 0 else -math.inf for r in ratios]
    return math.exp(sum(logs) / len(logs)) if logs else None


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3f}x"
