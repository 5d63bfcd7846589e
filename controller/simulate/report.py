"""What a run achieved, as the JSON object `agentdash simulate --json` prints, and as a table.

Waits are queue waits: from arrival to the start of work; a task redelivered (its pod's grace
period ran out) adds the time it waited again. A task still waiting at the horizon counts with
the wait it has had so far, so holding tasks back never makes a percentile look better.
Percentiles are nearest-rank.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.core.config import Config
from controller.core.printable import printable
from controller.core.wording import plural
from controller.simulate.cluster import Cluster
from controller.simulate.trace import Trace


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def waits(cluster: Cluster) -> list[float]:
    horizon = cluster.horizon
    return [w if w >= 0 else horizon - t for w, t in zip(cluster.wait, cluster.since, strict=True)]


def summarize(config: Config, trace: Trace, cluster: Cluster) -> dict[str, Any]:
    every = waits(cluster)
    by_tier: dict[str, list[float]] = {tier: [] for tier in tiers_in_order(config)}
    by_pool: list[list[float]] = [[] for _ in config.pools]
    tier_of = [config.tier_of[name] for name in config.pools]
    for wait, pool in zip(every, trace.pool, strict=True):
        by_tier[tier_of[pool]].append(wait)
        by_pool[pool].append(wait)
    every.sort()
    budgets = {n: t for n, t in cluster.tenants.items() if t.budget is not None}
    return {
        "completed": cluster.completed,
        "pending": len(trace) - cluster.completed,
        "waiting": sum(1 for wait in cluster.wait if wait < 0),
        **_wait_stats(every),
        "pod_seconds": round(cluster.pod_seconds, 1),
        "peak_replicas": cluster.pod_peak,
        "scale_events": cluster.scale_events,
        "reversals": cluster.reversals,
        "delayed_by_budget_or_pause": sum(cluster.delayed),
        "redelivered": cluster.redelivered,
        "tokens_over_budget": sum(t.over for t in budgets.values()),
        "tokens_over_budget_by_tenant": {n: t.over for n, t in budgets.items()},
        "by_tier": {
            tier: {"tasks": len(w), **_wait_stats(sorted(w))} for tier, w in by_tier.items()
        },
        # which pool sets a tier's p95: a pool woken from zero for each of its sparse tasks
        # waits a cold start at p95 beside one whose pods stay warm, in one tier's figure
        "by_pool": {
            name: {"tasks": len(w), **_wait_stats(sorted(w))}
            for name, w in zip(config.pools, by_pool, strict=True)
        },
    }


def _wait_stats(ordered: Sequence[float]) -> dict[str, float | None]:
    stats = {}
    for key, q in (("wait_p50_s", 0.50), ("wait_p95_s", 0.95), ("wait_p99_s", 0.99)):
        value = percentile(ordered, q)
        stats[key] = None if value is None else round(value, 3)
    return stats


def tiers_in_order(config: Config) -> list[str]:
    """The tiers as the reports list them: the highest priority first."""
    return sorted(config.tiers, key=lambda t: (-config.tiers[t].priority, t))


_ROWS: tuple[tuple[str, str], ...] = (
    ("completed", "completed"),
    ("pending", "not done at the end"),
    ("waiting", "  of them still queued"),
    ("wait_p50_s", "queue wait p50 (s)"),
    ("wait_p95_s", "queue wait p95 (s)"),
    ("wait_p99_s", "queue wait p99 (s)"),
    ("by_tier", ""),
    ("pod_seconds", "pod-seconds (cost)"),
    ("lower_bound_pod_seconds", "  lower bound for that p95"),
    ("peak_replicas", "peak pods"),
    ("scale_events", "scale events"),
    ("reversals", "reversals within 5 min"),
    ("delayed_by_budget_or_pause", "tasks delayed by budget/pause"),
    ("redelivered", "tasks redelivered"),
    ("tokens_over_budget", "tokens over budget"),
)


def table(result: Mapping[str, Any], source: str) -> str:
    """The comparison as a person reads it on a terminal."""
    policies: Mapping[str, Mapping[str, Any]] = result["policies"]
    names = list(policies)
    rows: list[tuple[str, list[str]]] = []
    for key, label in _ROWS:
        if key == "by_tier":
            for tier in next(iter(policies.values()))["by_tier"]:
                cells = [policies[n]["by_tier"][tier]["wait_p95_s"] for n in names]
                rows.append(("  " + tier + " p95 (s)", [_cell(c) for c in cells]))
            continue
        rows.append((label, [_cell(policies[n][key]) for n in names]))
    # Columns widen for what they hold (a month of a large fleet is billions of pod-seconds,
    # a tier's name up to 255 characters): a figure never runs into its neighbour.
    label_width = max(32, *(len(label) + 2 for label, _ in rows))
    width = max(13, *(len(text) + 1 for _, cells in rows for text in [*cells, *names]))
    lines = [
        f"{printable(source)}: {plural(result['tasks'], 'task')} over {_pools(result)}, "
        f"{_horizon(result['horizon_s'])} simulated (trace + {_drain(result['drain_s'])} to drain)",
        "",
        f"{'':<{label_width}}" + "".join(f"{name:>{width}}" for name in names),
    ]
    for label, cells in rows:
        lines.append(f"{label:<{label_width}}" + "".join(f"{text:>{width}}" for text in cells))
    lines += [
        "",
        "lower bound: the work alone (busy slot-seconds / concurrency) that any scaler must run",
        "inside the horizon to meet that p95: no cold start, no idle pod is counted. A",
        f"clairvoyant zero-wait plan needs {result['clairvoyant_pod_seconds']:,.0f} pod-seconds "
        "(cold starts paid; no min_replicas",
        "floor, max_replicas or quota).",
    ]
    said = verdict(policies)
    if said is not None:
        lines += ["", said]
    return "\n".join(lines)


BASELINES = ("keda", "hpa")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether agentdash beat both baselines on a trace: a p95 at most the better one's,
    pod-seconds at most the cheaper one's, no token over a budget; and the figures that
    decide it. `--json` prints it as "verdict"."""

    wins: bool
    better_baseline: str
    cheaper_baseline: str
    p95_s: float
    better_p95_s: float
    pod_seconds: float
    cheaper_pod_seconds: float
    tokens_over_budget: int
    held_back: int
    """Tasks a budget or a pause held back, counted in agentdash's p95."""

    def as_dict(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self.__slots__}


def judge(policies: Mapping[str, Mapping[str, Any]]) -> Verdict | None:
    """The verdict on these runs; None unless agentdash ran beside a baseline."""
    ours = policies.get("agentdash")
    others = [name for name in BASELINES if name in policies]
    if ours is None or not others:
        return None
    better = min(others, key=lambda name: policies[name]["wait_p95_s"])
    cheaper = min(others, key=lambda name: policies[name]["pod_seconds"])
    p95, best_p95 = ours["wait_p95_s"], policies[better]["wait_p95_s"]
    cost, least_cost = ours["pod_seconds"], policies[cheaper]["pod_seconds"]
    over = ours["tokens_over_budget"]
    return Verdict(
        wins=p95 <= best_p95 and cost <= least_cost and not over,
        better_baseline=better,
        cheaper_baseline=cheaper,
        p95_s=p95,
        better_p95_s=best_p95,
        pod_seconds=cost,
        cheaper_pod_seconds=least_cost,
        tokens_over_budget=over,
        held_back=ours.get("delayed_by_budget_or_pause", 0),
    )


def verdict(policies: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The verdict as the table ends with it: whether agentdash wins, then the figures that
    decide it, a line each. None unless agentdash ran beside a baseline."""
    judged = judge(policies)
    if judged is None:
        return None
    held = judged.held_back
    counting = f", counting {plural(held, 'task')} a budget or pause held back" if held else ""
    parts = [
        f"p95 {judged.p95_s:,.1f} s against {judged.better_p95_s:,.1f} s "
        f"({judged.better_baseline}){counting}",
        f"pod-seconds {judged.pod_seconds:,.0f} against {judged.cheaper_pod_seconds:,.0f} "
        f"({judged.cheaper_baseline})",
    ]
    others = [name for name in BASELINES if name in policies]
    over = judged.tokens_over_budget
    theirs = [f"{name} {policies[name]['tokens_over_budget']:,}" for name in others]
    if over or any(policies[name]["tokens_over_budget"] for name in others):
        parts.append(f"tokens over budget: agentdash {over:,}, {', '.join(theirs)}")
    won = "wins" if judged.wins else "does not win"
    tie = judged.p95_s == judged.better_p95_s and judged.pod_seconds == judged.cheaper_pod_seconds
    if judged.wins and tie:  # "at most" is a win; a replay of three tasks still reads as a tie
        won = "ties (the same p95 and pod-seconds: counted as a win)"
    return "\n  ".join([f"verdict: agentdash {won}", *parts])


def _horizon(seconds: float) -> str:
    """The time replayed: under an hour in seconds (a minute's trace is not `0.0 h`)."""
    return f"{seconds:,.0f} s" if seconds < 3600 else f"{seconds / 3600:,.1f} h"


def _drain(seconds: float) -> str:
    """--drain as it was given: under an hour in seconds (100, not 0.0277778 h)."""
    return f"{seconds:g} s" if seconds < 3600 else f"{round(seconds / 3600, 2):g} h"


def _pools(result: Mapping[str, Any]) -> str:
    """The pools the trace has tasks for, and of how many configured when it leaves some out
    (a replay of one pool is not one of five)."""
    had, configured = result["trace_pools"], result["pools"]
    return plural(had, "pool") + ("" if had == configured else f" (of {configured} configured)")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
