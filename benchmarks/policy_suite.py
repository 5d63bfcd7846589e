"""agentdash against KEDA and the HPA on eight synthetic workload shapes and seven built from real
LLM request traces (benchmarks/real_traces.py: the Azure LLM inference trace 2023), each with
a fleet of its own.

Every shape makes its own trace (seeded: other seeds give traces the defaults were not tuned
on; a real trace's seed splits it among the pools otherwise) and its own fleet, every pool on
the default `behavior` and cooldown unless `--behavior` or `--cooldown` overrides them all
(the keda baseline then takes them too, as it takes any pool's own: docs/backtest.md).
Each is replayed under the three policies by the backtest (controller.simulate.backtest) and
judged: agentdash WINs when its p95 queue wait is at most the better baseline's, its
pod-seconds at most the cheaper baseline's, and it spends no token over a budget. Where a
hard-capped budget holds a tier back on purpose, the p95s compared are the other tiers'.

    python benchmarks/policy_suite.py [--seed N | --seeds 1,2,3] [--only NAME[,NAME]] [--json]
        [--behavior '{"scale_down": {"stabilization_seconds": 60}}'] [--cooldown S]
        [--wait-weight W]
"""

# ruff: noqa: E402 (the compiled modules are chosen before the hot modules are imported)

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import asdict
from typing import Any

from controller.accel import use_compiled

COMPILED = use_compiled()  # before the hot modules are imported (make accel builds them)

from pydantic import ValidationError
from real_traces import REAL
from suite_summary import summarize
from workload_makings import HOUR, THREE, Draft, burst, busy_rate, fleet, poisson, pools, tasks

from controller.core.behavior import Behavior
from controller.core.config import Config, ConfigError, first_error, parse_config
from controller.simulate.backtest import POLICIES, backtest
from controller.simulate.trace import Trace

BASELINES = ("keda", "hpa")


# --- the shapes: each (random, scale) -> Draft; scale shrinks the trace for a quick run ------


def sparse(rng: random.Random, scale: float) -> Draft:
    end = 8 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("research", "triage", "ops"), max_replicas=10), 60)
    draft = Draft("single tasks every 5-15 min a pool, four bursts of 10-40", data)
    for name in data["pools"]:
        times = poisson(rng, 1 / rng.uniform(300, 900), 0, end)
        draft.rows += tasks(rng, times, name, rng.uniform(20, 90))
    for _ in range(4):
        at, size = rng.uniform(0, end), rng.randint(10, 40)
        draft.rows += tasks(rng, burst(rng, at, size), rng.choice(list(data["pools"])), 45)
    return draft


def diurnal(rng: random.Random, scale: float) -> Draft:
    day = 24 * HOUR * scale
    tenants = THREE | {"hooli": "growth"}
    spec = pools(tenants, ("agent", "batch"), max_replicas=20, rpm_per_replica=10)
    for i, pool in enumerate(spec.values()):
        pool["provider"] = ("openai", "anthropic")[i % 2]
    data = fleet(tenants, spec, 160, {"openai": 3000, "anthropic": 2000})
    draft = Draft("a day, 10% of the mean rate at midnight to 190% at noon, small bursts", data)
    for name in data["pools"]:
        rate, median = rng.uniform(0.03, 0.08), rng.uniform(20, 60)
        peak = 1.9 * rate
        times = []
        for t in poisson(rng, peak, 0, day):  # thinned to the daily curve
            if rng.random() * peak < rate * (1 - 0.9 * math.cos(2 * math.pi * t / day)):
                times.append(t)
        for at in poisson(rng, 0.05 * rate / 6, 0, day):
            times += burst(rng, at, rng.randint(3, 10))
        draft.rows += tasks(rng, times, name, median)
    return draft


def steady(rng: random.Random, scale: float) -> Draft:
    end = 2 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("chat", "code"), max_replicas=40, concurrency=2), 240)
    draft = Draft("high Poisson arrivals, 0.3-0.8 a second a pool", data)
    for name in data["pools"]:
        times = poisson(rng, rng.uniform(0.3, 0.8), 0, end)
        draft.rows += tasks(rng, times, name, rng.uniform(20, 40))
    return draft


def flash_crowd(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    tenants = {f"t{i}": ("enterprise", "growth", "starter")[i % 3] for i in range(5)}
    data = fleet(tenants, pools(tenants, ("plan", "code"), max_replicas=30), 150)
    draft = Draft("idle pools; 100-300 tasks within 10 s on three of them, later on two", data)
    names = list(data["pools"])
    for name in names:
        draft.rows += tasks(rng, poisson(rng, 1 / 1200, 0, end), name, 40)
    for at, hit in ((0.2 * end, rng.sample(names, 3)), (0.6 * end, rng.sample(names, 2))):
        for name in hit:
            size = max(1, round(rng.randint(100, 300) * min(1.0, scale)))
            draft.rows += tasks(rng, burst(rng, at, size, 10), name, rng.uniform(30, 60))
    return draft


def long_tail(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    tenants = {"acme": "enterprise", "globex": "growth"}
    data = fleet(tenants, pools(tenants, ("review", "fix"), max_replicas=20), 80)
    draft = Draft("mostly ~30 s tasks, 4% of them ~10 minutes", data)
    for name in data["pools"]:
        for t in poisson(rng, rng.uniform(0.05, 0.1), 0, end):
            long = rng.random() < 0.04
            draft.rows += tasks(rng, [t], name, 600 if long else 30, 0.2 if long else 0.4)
    return draft


def tier_contention(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("a", "b", "c"), max_replicas=15), 30)
    draft = Draft("three 10-15 min rushes of every pool at once: ~45 pods asked, 30 allowed", data)
    rushes = [(f + rng.uniform(-0.03, 0.03)) * end for f in (0.15, 0.5, 0.8)]
    for name in data["pools"]:
        median = rng.uniform(30, 60)
        times = poisson(rng, busy_rate(1, median), 0, end)
        for at in rushes:
            stop = at + rng.uniform(600, 900) * min(1.0, scale)
            times += poisson(rng, busy_rate(4, median), at, stop)
            times += burst(rng, at, rng.randint(5, 20))
        draft.rows += tasks(rng, times, name, median)
    return draft


def budget_bound(rng: random.Random, scale: float) -> Draft:
    end = 4 * HOUR * scale
    data = fleet(THREE, pools(THREE, ("agent", "batch"), max_replicas=15), 80)
    about = "globex (growth) asks for 1.6x its daily token budget, hard cap; others unbounded"
    draft = Draft(about, data, held_tiers=("growth",))
    for name in data["pools"]:
        median = rng.uniform(20, 60)
        times = poisson(rng, rng.uniform(0.03, 0.06), 0, end)
        for at in poisson(rng, 2 / HOUR, 0, end):
            times += burst(rng, at, rng.randint(5, 25))
        draft.rows += tasks(rng, times, name, median)
    asked = sum(tokens for _, name, _, tokens in draft.rows if name.startswith("globex"))
    data["tenants"]["globex"].update(daily_token_budget=round(asked / 1.6), hard_cap=True)
    return draft


def provider_rpm(rng: random.Random, scale: float) -> Draft:
    end = 3 * HOUR * scale
    spec = pools(THREE, ("gpt", "mini", "claude"), max_replicas=15, rpm_per_replica=30)
    for name, pool in spec.items():
        pool["provider"] = "anthropic" if name.endswith("claude") else "openai"
    data = fleet(THREE, spec, 120, {"openai": 600, "anthropic": 3000})
    about = ("six pools share openai's 600 rpm (20 replicas) in busy stretches; the simulator "
             "does not throttle the baselines beyond it")  # fmt: skip
    draft = Draft(about, data)
    for name in data["pools"]:
        median, t = rng.uniform(20, 50), rng.uniform(0, 1200)
        while t < end:  # busy stretches (25 min on average) and quiet ones (20 min)
            stop = min(end, t + rng.expovariate(1 / 1500))
            draft.rows += tasks(rng, poisson(rng, busy_rate(4, median), t, stop), name, median)
            t = stop + rng.expovariate(1 / 1200)
    return draft


SHAPES: dict[str, Callable[[random.Random, float], Draft]] = {
    shape.__name__: shape
    for shape in (sparse, diurnal, steady, flash_crowd, long_tail, tier_contention,
                  budget_bound, provider_rpm)
} | REAL  # fmt: skip


# --- running and judging ---------------------------------------------------------------------


def build(
    name: str, seed: int, overrides: dict[str, Any] | None = None, scale: float = 1.0
) -> tuple[Draft, Config, Trace]:
    """The shape's draft, its config (`overrides` given to every pool) and its trace."""
    draft = SHAPES[name](random.Random(f"{name}-{seed}"), scale)
    for pool, spec in draft.data["pools"].items():
        spec["deployment"] = {"namespace": "agents", "name": pool}
        spec["queue"] = {"stream": "AGENT_TASKS", "consumer": pool}
        spec.update(overrides or {})
    config = parse_config(draft.data, f"workload {name}")
    index = {pool: i for i, pool in enumerate(config.pools)}
    trace = Trace.build(config.pools, [(t, index[p], w, n) for t, p, w, n in draft.rows])
    return draft, config, trace


def run_workload(
    name: str, seed: int, overrides: dict[str, Any] | None = None, scale: float = 1.0
) -> dict[str, Any]:
    """One workload under the three policies, and the verdict (see `judge`)."""
    draft, config, trace = build(name, seed, overrides, scale)
    result = backtest(config, trace, POLICIES).as_dict()
    keys = ("wait_p50_s", "wait_p95_s", "pod_seconds", "reversals", "tokens_over_budget", "pending")
    policies = {
        policy: {key: s[key] for key in keys}
        | {"tier_p95_s": {tier: t["wait_p95_s"] for tier, t in s["by_tier"].items()}}
        for policy, s in result["policies"].items()
    }
    clairvoyant = result["clairvoyant_pod_seconds"]
    return {
        "workload": name,
        "seed": seed,
        "about": draft.about,
        "pools": len(config.pools),
        "tenants": len(config.tenants),
        "tasks": len(trace),
        "hours": round(trace.duration / HOUR, 2),
        "held_tiers": list(draft.held_tiers),
        "policies": policies,
        "clairvoyant_pod_seconds": clairvoyant,
        "clairvoyant_ratio": ratio(policies["agentdash"]["pod_seconds"], clairvoyant),
        **judge(policies, draft.held_tiers),
    }


def run_suite(
    seed: int,
    overrides: dict[str, Any] | None = None,
    only: list[str] | None = None,
    *,
    scale: float = 1.0,
) -> list[dict[str, Any]]:
    """Every workload (or those in `only`) for one seed; `scale` < 1 shortens the traces."""
    return [run_workload(name, seed, overrides, scale) for name in only or SHAPES]


def ratio(a: float, b: float) -> float | None:
    """a / b, and 1 for 0 / 0; None (infinite) for more than 0 over 0."""
    if b > 0:
        return round(a / b, 3)
    return 1.0 if a <= 0 else None


def tier_p95(tier: str) -> Callable[[dict[str, Any]], Any]:
    """A policy's p95 wait in `tier`, from its results."""
    return lambda policy: policy["tier_p95_s"][tier]


def judge(policies: dict[str, dict[str, Any]], held: tuple[str, ...]) -> dict[str, Any]:
    """WIN: a p95 at most the better baseline's, pod-seconds at most the cheaper one's, and
    no token over a budget; otherwise LOSS, with what lost."""
    ours = policies["agentdash"]

    def best(get: Callable[[dict[str, Any]], float]) -> tuple[str, float]:
        name = min(BASELINES, key=lambda b: get(policies[b]))
        return name, get(policies[name])

    better, p95 = best(lambda p: p["wait_p95_s"])
    cheaper, cost = best(lambda p: p["pod_seconds"])
    lost = []
    if held:  # a budget holds these tiers back on purpose: the others' waits are compared
        for tier, mine in ours["tier_p95_s"].items():
            if tier not in held and mine is not None:
                by, theirs = best(tier_p95(tier))
                if mine > theirs:
                    lost.append(f"{tier} p95 {mine:,.1f} s > {theirs:,.1f} s ({by})")
    elif ours["wait_p95_s"] > p95:
        lost.append(f"p95 {ours['wait_p95_s']:,.1f} s > {p95:,.1f} s ({better})")
    if ours["pod_seconds"] > cost:
        lost.append(f"pod-seconds {ours['pod_seconds']:,.0f} > {cost:,.0f} ({cheaper})")
    if ours["tokens_over_budget"]:
        lost.append(f"{ours['tokens_over_budget']:,} tokens over budget")
    return {
        "better_baseline": better,
        "p95_ratio": ratio(ours["wait_p95_s"], p95),
        "cheaper_baseline": cheaper,
        "pod_seconds_ratio": ratio(ours["pod_seconds"], cost),
        "verdict": "LOSS" if lost else "WIN",
        "lost": lost,
    }


# --- printing --------------------------------------------------------------------------------


def verdict(row: dict[str, Any]) -> str:
    lost = f": {'; '.join(row['lost'])}" if row["lost"] else ""
    return f"{row['workload']}: {row['verdict']}{lost}"


def table(row: dict[str, Any]) -> str:
    policies = row["policies"]
    lines = [
        f"{row['workload']} (seed {row['seed']}): {row['about']}",
        f"{row['pools']} pools, {row['tenants']} tenants, {row['tasks']:,} tasks over "
        f"{row['hours']:.1f} h (+1 h to drain)",
        f"{'':<26}" + "".join(f"{name:>12}" for name in policies),
    ]
    cells: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("queue wait p95 (s)", lambda p: p["wait_p95_s"])
    ]
    for tier in policies["agentdash"]["tier_p95_s"]:
        label = f"  {tier} p95 (s)" + (" held" if tier in row["held_tiers"] else "")
        cells.append((label, tier_p95(tier)))
    cells += [
        ("pod-seconds", lambda p: p["pod_seconds"]),
        ("reversals within 5 min", lambda p: p["reversals"]),
        ("tokens over budget", lambda p: p["tokens_over_budget"]),
        ("not done at the end", lambda p: p["pending"]),
    ]
    for label, get in cells:
        lines.append(f"{label:<26}" + "".join(_cell(get(p)) for p in policies.values()))
    lines.append(
        f"agentdash / better p95 ({row['better_baseline']}) {_times(row['p95_ratio'])}, "
        f"/ cheaper pod-seconds ({row['cheaper_baseline']}) {_times(row['pod_seconds_ratio'])}, "
        f"/ clairvoyant plan {_times(row['clairvoyant_ratio'])}"
    )
    return "\n".join([*lines, verdict(row)])


def _cell(value: float | None) -> str:
    if value is None:
        return f"{'-':>12}"
    return f"{value:>12,.1f}" if isinstance(value, float) else f"{value:>12,}"


def _times(value: float | None) -> str:
    return "inf" if value is None else f"{value:.2f}x"


# --- the command line ------------------------------------------------------------------------


def _behavior(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
        Behavior.model_validate(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected JSON: {exc}") from None
    except ValidationError as exc:
        path, message = first_error(exc)
        raise argparse.ArgumentTypeError(f"{path}: {message}" if path else message) from None
    return dict(value)


def names_in(shapes: Collection[str]) -> Callable[[str], list[str]]:
    """--only of this script and the ones beside it: some of `shapes`, comma-separated."""

    def parse(text: str) -> list[str]:
        names = [name for name in text.split(",") if name]
        for name in names:
            if name not in shapes:
                raise argparse.ArgumentTypeError(f"{name!r}: expected some of {', '.join(shapes)}")
        return names

    return parse


def _seeds(text: str) -> list[int]:
    return [int(seed) for seed in text.split(",") if seed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="default 1")
    parser.add_argument("--seeds", type=_seeds, help="several seeds: 1,2,3")
    parser.add_argument("--only", type=names_in(SHAPES), help=f"some of {','.join(SHAPES)}")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--behavior", type=_behavior, help="every pool's behavior (JSON)")
    parser.add_argument("--cooldown", type=float, help="every pool's cooldown_seconds")
    parser.add_argument(
        "--wait-weight", type=float, help="every pool's keep_alive.wait_weight (learned pools)"
    )
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.behavior is not None:
        overrides["behavior"] = args.behavior
    if args.cooldown is not None:
        overrides["cooldown_seconds"] = args.cooldown
    if args.wait_weight is not None:
        overrides["keep_alive"] = {"wait_weight": args.wait_weight}
    seeds, names = args.seeds or [args.seed], args.only or list(SHAPES)
    start = time.perf_counter()
    runs: dict[int, list[dict[str, Any]]] = {seed: [] for seed in seeds}
    for seed in seeds:
        for name in names:
            try:
                row = run_workload(name, seed, overrides)
            except ConfigError as exc:  # a trace file that is not what real_traces expects
                print(exc, file=sys.stderr)
                return 2
            runs[seed].append(row)
            if not args.json:  # as each is done: several seeds take a while
                print(
                    table(row) + "\n" if len(seeds) == 1 else f"seed {seed}: {verdict(row)}",
                    flush=True,
                )
    wall = time.perf_counter() - start
    wins = {seed: sum(row["verdict"] == "WIN" for row in rows) for seed, rows in runs.items()}
    overall = summarize((row for rows in runs.values() for row in rows), REAL)
    if args.json:
        seeded = {str(s): {"wins": wins[s], "of": len(names), "workloads": runs[s]} for s in seeds}
        print(json.dumps({"overrides": overrides, "seeds": seeded, "summary": asdict(overall),
                          "wall_s": round(wall, 1)}))  # fmt: skip
        return 0
    if len(seeds) > 1:
        for seed in seeds:
            print(f"seed {seed}: agentdash wins {wins[seed]} of {len(names)}")
    print("\n".join(overall.lines()))
    hot = "compiled (make accel)" if COMPILED else "plain Python"
    print(f"wall time: {wall:.1f} s, {len(seeds) * len(names)} workloads x 3 policies "
          f"side by side, the hot path {hot}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
