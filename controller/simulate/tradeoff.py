"""What a candidate config achieved on a trace, the Pareto front of such outcomes, and the
objectives that pick one from it (controller.simulate.tune searches; this decides)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from controller.core.config import Config
from controller.simulate.backtest import make_scaler
from controller.simulate.behavior_grid import Candidate
from controller.simulate.clock import run
from controller.simulate.report import percentile, tiers_in_order, waits
from controller.simulate.trace import Trace

NEAR = 0.01
"""A candidate within this fraction of the best (by the objective's measure) that changes
less is chosen instead."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a candidate achieved on a trace."""

    p95: float
    """Queue-wait p95 (s) over the tasks no token budget or pause held back: those wait for
    the budget whatever the behavior. A task unstarted at the horizon counts its wait so far."""
    pod_seconds: float
    tier_p95: dict[str, float]
    pending: int
    scale_events: int
    held: int = 0
    """The tasks a budget or pause held back, which `p95` leaves out (simulate counts them)."""
    held_p95: float = 0.0
    """Their queue-wait p95 (s; 0 without any). The budget sets most of it, but not all: a
    slower scale-up makes them wait longer too, so no objective admits a candidate that
    raises it (Objective.admits)."""
    p99: float = 0.0
    """The queue-wait p99 of the tasks `p95` counts: where most waits are a cold start, the
    p95 is that cold start under every candidate, and a slower scale-up shows only here."""


def replay(config: Config, trace: Trace, horizon: float) -> Outcome:
    cluster = run(config, trace, make_scaler("agentdash", config), horizon, samples=1)
    every, held = waits(cluster), cluster.delayed
    tier_of = [config.tier_of[name] for name in config.pools]
    kept: list[float] = []
    delayed_waits: list[float] = []
    by_tier: dict[str, list[float]] = {}
    for wait, pool, delayed in zip(every, trace.pool, held, strict=True):
        if delayed:
            delayed_waits.append(wait)
        else:
            kept.append(wait)
            by_tier.setdefault(tier_of[pool], []).append(wait)
    kept.sort()
    return Outcome(
        p95=percentile(kept, 0.95) or 0.0,
        pod_seconds=cluster.pod_seconds,
        # highest priority first, as simulate's table lists the tiers
        tier_p95={tier: _p95(by_tier[tier]) for tier in tiers_in_order(config) if tier in by_tier},
        pending=len(trace) - cluster.completed,
        scale_events=cluster.scale_events,
        held=len(delayed_waits),
        held_p95=_p95(delayed_waits),
        p99=percentile(kept, 0.99) or 0.0,
    )


def _p95(values: list[float]) -> float:
    values.sort()
    return percentile(values, 0.95) or 0.0


def warm_wait(config: Config) -> float:
    """The pools' mean cold start (at least 1 s): the balanced objective adds it to both p95s,
    for a wait shorter than a cold start is about what a warm pod gives (3 s against 0 s is
    no trade worth paying much for), and a current p95 of 0 s leaves the ratio finite."""
    pools = config.pools.values()
    return max(1.0, sum(p.cold_start_seconds for p in pools) / max(1, len(pools)))


@dataclass(frozen=True, slots=True)
class Objective:
    """How to pick from the front, against the current config's outcome (`reference`).

    - p95: the lowest p95 among candidates whose pod-seconds are within the current's;
    - cost: the fewest pod-seconds among candidates whose p95 is within the current's;
    - balanced: the lowest ((p95 + c) / (current + c))^w x (pod-seconds / current)^(1-w),
      w = `weight` (0.5: halving the cost is worth doubling the p95), c = `warm_s` (see
      `warm_wait`). The current config scores 1;
    - both: the balanced product's lowest among candidates no worse than the current config
      on either measure (a change that buys one with the other is not made).
    None admits a candidate under which the tasks a budget or pause held back wait longer
    (`Outcome.held_p95`), and none but balanced one whose p99 is higher: a p95 that is a
    cold start under every candidate would let a slower scale-up look free.
    Each picks a point of the Pareto front, or the current config when nothing beats it."""

    kind: Literal["p95", "cost", "balanced", "both"] = "both"
    weight: float = 0.5
    warm_s: float = 1.0

    @classmethod
    def parse(cls, text: str, warm_s: float = 1.0) -> Objective:
        """`both`, `p95`, `cost`, `balanced` or `balanced:W` with 0 < W < 1; ValueError
        otherwise."""
        # a colon promises a weight: `balanced:` or `both:` is a mistake, not a default
        kind, colon, weight = text.partition(":")
        if kind == "both" and not colon:
            return cls("both", warm_s=warm_s)
        if kind == "p95" and not colon:
            return cls("p95", warm_s=warm_s)
        if kind == "cost" and not colon:
            return cls("cost", warm_s=warm_s)
        if kind == "balanced":
            try:
                w = float(weight) if colon else 0.5
            except ValueError:
                w = math.nan
            if 0 < w < 1:
                return cls("balanced", w, warm_s)
            raise ValueError(f"expected balanced:W with 0 < W < 1, got {text!r}")
        raise ValueError(f"expected both, p95, cost, balanced or balanced:W, got {text!r}")

    def __str__(self) -> str:
        # the shortest text that reads back as this weight: with 6 digits, 0.9999999 was
        # "balanced:1", which --objective refuses
        return f"balanced:{self.weight!r}" if self.kind == "balanced" else self.kind

    def score(self, outcome: Outcome, reference: Outcome) -> float:
        """The balanced product (what `key` ranks by for balanced; shown for the others)."""
        wait = (outcome.p95 + self.warm_s) / (reference.p95 + self.warm_s)
        cost = outcome.pod_seconds / reference.pod_seconds if reference.pod_seconds else 1.0
        return float(wait**self.weight * cost ** (1 - self.weight))

    def admits(self, outcome: Outcome, reference: Outcome) -> bool:
        """Whether `outcome` may be picked at all. The tasks a budget or pause held back never
        wait longer: where a budget holds nearly every task, `p95` counts almost none, and
        a slower scale-up would otherwise look free."""
        return not self.guard(outcome, reference) and self.fits(outcome, reference)

    def fits(self, outcome: Outcome, reference: Outcome) -> bool:
        """Whether `outcome` keeps to the objective's own bound on p95 and pod-seconds."""
        if self.kind == "p95":
            return outcome.pod_seconds <= reference.pod_seconds
        if self.kind == "cost":
            return outcome.p95 <= reference.p95
        if self.kind == "both":
            return outcome.p95 <= reference.p95 and outcome.pod_seconds <= reference.pod_seconds
        return True

    def guard(self, outcome: Outcome, reference: Outcome) -> str:
        """What bars `outcome` whatever its p95 and cost, in words ("" if nothing): a raised
        p99 (but for `balanced`), or a raised p95 of the tasks held back."""
        if outcome.held_p95 > reference.held_p95:
            return (
                f"raises the held-back tasks' p95 from {reference.held_p95:,.1f} s to "
                f"{outcome.held_p95:,.1f} s"
            )
        if self.kind != "balanced" and outcome.p99 > reference.p99:
            return f"raises the p99 from {reference.p99:,.1f} s to {outcome.p99:,.1f} s"
        return ""

    def measure(self, outcome: Outcome, reference: Outcome) -> float:
        """What the objective minimises: the p95, the pod-seconds, or the balanced product."""
        if self.kind == "p95":
            return outcome.p95
        if self.kind == "cost":
            return outcome.pod_seconds
        return self.score(outcome, reference)

    def key(self, outcome: Outcome, reference: Outcome) -> tuple[bool, float, float]:
        """Lower is better: admitted first, then the objective, then the other measure."""
        barred = not self.admits(outcome, reference)
        other = outcome.p95 if self.kind == "cost" else outcome.pod_seconds
        return barred, self.measure(outcome, reference), other


@dataclass(frozen=True, slots=True)
class Trial:
    number: int
    """0 is the current config; the others in the order they were drawn."""
    candidate: Candidate
    outcome: Outcome


def pareto(trials: Sequence[Trial]) -> list[Trial]:
    """The trials no other beats on both p95 and pod-seconds, by pod-seconds (of equal
    outcomes, the one that changes least stands for them, as `choose` would pick it)."""
    front: list[Trial] = []
    best_p95 = math.inf
    for trial in sorted(trials, key=_cheapest_first):
        if trial.outcome.p95 < best_p95:
            front.append(trial)
            best_p95 = trial.outcome.p95
    return front


def _cheapest_first(trial: Trial) -> tuple[float, float, int, int]:
    return (trial.outcome.pod_seconds, trial.outcome.p95, changed(trial.candidate), trial.number)


def choose(trials: Sequence[Trial], objective: Objective) -> Trial:
    """The objective's pick, preferring fewer changes (`changed`) within NEAR of the best: a
    change that buys less is not worth making (the current config changes nothing)."""
    reference = trials[0].outcome
    return min(
        near_best(trials, objective),
        key=lambda t: (changed(t.candidate), *objective.key(t.outcome, reference), t.number),
    )


def near_best(trials: Sequence[Trial], objective: Objective) -> list[Trial]:
    """The trials as good as the objective's best, or within NEAR of it."""
    reference = trials[0].outcome
    best = min(objective.key(t.outcome, reference) for t in trials)
    return [
        t
        for t in trials
        if (key := objective.key(t.outcome, reference))[0] == best[0]
        and key[1] <= best[1] * (1 + NEAR) + 1e-9
    ]


def changed(candidate: Candidate) -> int:
    """How many parts (a group's up rule, down rule or cooldown) a candidate changes."""
    return sum(setting.parts for setting in candidate if setting is not None)
