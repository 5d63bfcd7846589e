"""Search each pool's (or tier's) `behavior`, `cooldown_seconds` and the learned keep-alive's
`keep_alive.wait_weight` on a trace: the work behind `agentdash tune`.

The trace is cut by time: the search replays only its head, and the last `holdout` fraction
(the tail) is kept for one check afterwards, current config against the chosen one. A
candidate gives every group (a pool, or all the pools of a tier) either its configured values
(None) or a `Setting` on the grid of controller.simulate.behavior_grid, which may change the
group's up rule, down rule and cooldown, or only some of them. Each candidate is replayed under
agentdash's own backtest (the real policy, in virtual time) and scored by its queue-wait p95
and its pod-seconds; an `Objective` picks one from the Pareto front of the two.

The search is seeded and runs in batches of BATCH candidates, side by side in forked
processes (the trace is inherited, not copied). The first quarter of the trials are random
(half give every group the same setting, half draw one per group). Then each batch mutates
the best candidates so far and points of the front: one group or a few, one or two of their
knobs, mostly to a neighbouring grid value, now and then undoing a change. The last batches
(PRUNE_BATCHES) undo the pick's changes one by one: within NEAR of the best, the candidate
that changes less is chosen, so a change stays only if it earns its place. The candidates
depend only on the seed, the trials and the results so far, so the same arguments give the
same search on any machine; a time budget may only stop it after fewer batches.
"""

from __future__ import annotations

import bisect
import functools
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.core.config import Config, PoolConfig
from controller.simulate.backtest import DRAIN_S
from controller.simulate.behavior_grid import (
    PARTS,
    Candidate,
    Group,
    Setting,
    mutate,
    nearest,
    random_setting,
    revert,
)
from controller.simulate.trace import Trace
from controller.simulate.tradeoff import (
    Objective,
    Outcome,
    Trial,
    changed,
    choose,
    near_best,
    pareto,
)
from controller.simulate.tune_replays import Replays, replaying

BATCH = 8
"""Candidates replayed side by side before the next ones are drawn from their results (and
so the most processes a search uses)."""
PRUNE_BATCHES = 2
"""Batches kept for the end (at most a third of the trials): the pick with its changes
undone one by one, so that it keeps only those that earn their place."""


@dataclass(frozen=True, slots=True)
class Split:
    """A trace cut at `at` seconds: the head before, the tail from then on, moved to start at
    0 (the tail is replayed from an idle fleet with fresh daily budgets)."""

    head: Trace
    tail: Trace
    at: float
    start: float = 0.0
    """The first arrival: the span `holdout` is a fraction of starts here."""


def split(trace: Trace, holdout: float) -> Split:
    """The last `holdout` fraction of the trace's time span (its first arrival to its last)
    as the tail; holdout 0 leaves the tail empty. The span starts at the first arrival, not
    at 0: a trace of the hour before midnight has an hour to share, not a day."""
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be >= 0 and < 1, got {holdout!r}")
    start = trace.t[0] if len(trace) else 0.0
    if holdout == 0:
        return Split(trace, Trace(trace.pools, [], [], [], []), trace.duration, start)
    at = start + (trace.duration - start) * (1 - holdout)
    i = bisect.bisect_left(trace.t, at)
    head = Trace(trace.pools, trace.t[:i], trace.pool[:i], trace.work_s[:i], trace.tokens[:i])
    tail = Trace(
        trace.pools,
        [t - at for t in trace.t[i:]],
        trace.pool[i:],
        trace.work_s[i:],
        trace.tokens[i:],
    )
    return Split(head, tail, at, start)


@dataclass(frozen=True, slots=True)
class Search:
    groups: tuple[Group, ...]
    trials: tuple[Trial, ...]
    objective: Objective
    seconds: float
    stopped_early: bool
    """The time budget ran out before the trials did."""
    undoings: int = 0
    """Trials spent undoing the pick's changes one by one (none: they were not checked)."""

    @property
    def current(self) -> Trial:
        return self.trials[0]

    @property
    def front(self) -> list[Trial]:
        return pareto(self.trials)

    @property
    def chosen(self) -> Trial:
        return choose(self.trials, self.objective)


# --- searching ---------------------------------------------------------------------------


def search(
    config: Config,
    trace: Trace,
    tuned: Sequence[Group],
    *,
    horizon: float,
    objective: Objective,
    trials: int = 96,
    seed: int = 1,
    workers: int | None = None,
    time_budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[int, int, float], None] | None = None,
) -> Search:
    """Replay the current config and up to `trials` - 1 candidates over `trace` until
    `horizon`. No batch is started that would end past `time_budget` seconds (at the pace
    of the last one; the first batch's first round measures it). `progress(done, trials,
    seconds)` is called after each batch."""
    start = clock()
    draw = _Drawer(config, tuned, objective, trials, random.Random(seed))
    width = min(BATCH, workers or os.cpu_count() or 1)
    with replaying(config, tuned, trace, horizon, width) as replays:
        run = _Batches(replays, trials, start, time_budget, clock, progress, width)
        kept = min(PRUNE_BATCHES * BATCH, trials // 3)

        def reserve() -> int:
            """Trials kept for undoing the pick's changes at the end: none while it has none
            (the current config picked so far), so that those trials and their time still
            search."""
            return kept if run.done and changed(choose(run.done, objective).candidate) else 0

        while len(run.done) < trials - reserve() and run.fits(1 + PRUNE_BATCHES * bool(reserve())):
            run.replay(draw.batch(run.done, min(BATCH, trials - reserve() - len(run.done))))
        stopped = len(run.done) < trials - reserve()
        searched = len(run.done)
        while len(run.done) < trials and run.fits(1):
            simpler = draw.simpler(run.done, min(BATCH, trials - len(run.done)))
            if not simpler:
                break
            run.replay(simpler)
    return Search(
        groups=tuple(tuned),
        trials=tuple(run.done),
        objective=objective,
        seconds=clock() - start,
        stopped_early=stopped,
        undoings=len(run.done) - searched,
    )


class _Batches:
    """The trials replayed so far, a batch at a time, and whether another batch fits the time
    budget at the pace of the last one."""

    def __init__(
        self,
        replays: Replays,
        trials: int,
        start: float,
        time_budget: float | None,
        clock: Callable[[], float],
        progress: Callable[[int, int, float], None] | None,
        width: int,
    ) -> None:
        self.done: list[Trial] = []
        self._replays, self._trials, self._start = replays, trials, start
        self._time_budget, self._clock, self._progress = time_budget, clock, progress
        self._width = width
        """The replays run side by side: a batch takes ceil(its size / width) rounds."""
        self._round = 0.0  # how long a round took last: the next ones take about as long

    def fits(self, batches: int) -> bool:
        return not self.done or self._fits(batches * self._rounds(BATCH))

    def _fits(self, rounds: int) -> bool:
        budget = self._time_budget
        return budget is None or self._clock() + rounds * self._round - self._start <= budget

    def _rounds(self, size: int) -> int:
        return -(-size // self._width)

    def replay(self, batch: list[Candidate]) -> None:
        """Replay `batch`. Under a time budget, the first batch's first round goes alone: its
        pace says whether the rest fits (on a large trace the first batch, of 8, ran 95 s
        past a budget of 120 s before the budget was first looked at)."""
        if self._time_budget is not None and not self.done and len(batch) > self._width:
            self._replay(batch[: self._width])
            batch = batch[self._width :]
            if not self._fits(self._rounds(len(batch))):
                return
        self._replay(batch)

    def _replay(self, batch: list[Candidate]) -> None:
        clock = self._clock
        began = clock()
        outcomes = self._replays.map(batch)
        self._round = (clock() - began) / self._rounds(len(batch))
        self.done.extend(Trial(len(self.done), c, o) for c, o in zip(batch, outcomes, strict=True))
        if self._progress is not None:
            self._progress(len(self.done), self._trials, clock() - self._start)


def check(
    config: Config,
    tuned: Sequence[Group],
    candidates: Sequence[Candidate],
    trace: Trace,
    horizon: float,
    workers: int | None = None,
) -> list[Outcome]:
    """Replay each candidate over another trace (the held-out tail), side by side."""
    with replaying(
        config, tuned, trace, horizon, min(len(candidates), workers or os.cpu_count() or 1)
    ) as replays:
        return replays.map(candidates)


class _Drawer:
    """Draws the next candidates from the results so far."""

    def __init__(
        self,
        config: Config,
        tuned: Sequence[Group],
        objective: Objective,
        trials: int,
        rng: random.Random,
    ) -> None:
        self.pools = [config.pools[g.pools[0]] for g in tuned]
        """Each group's first pool: what it has configured (a tier's pools are tuned alike)."""
        self.configured = [nearest(pool) for pool in self.pools]
        self.objective = objective
        self.explore = max(BATCH - 1, trials // 4)
        """Trials drawn at random (after the current config) before any is mutated."""
        self.rng = rng
        self.seen: set[Candidate] = set()

    def batch(self, done: Sequence[Trial], size: int) -> list[Candidate]:
        """`size` fresh candidates: the current config first, then random ones, then
        children of the best so far."""
        drawn: list[Candidate] = []
        if not done:
            drawn.append((None,) * len(self.configured))
            self.seen.add(drawn[0])
        while len(drawn) < size:
            number = len(done) + len(drawn)
            for _ in range(100):  # a fresh one, almost always at the first draw
                candidate = self._random(number) if number <= self.explore else self._child(done)
                candidate = self._plain(candidate)
                if candidate not in self.seen:
                    break
            self.seen.add(candidate)
            drawn.append(candidate)
        return drawn

    def simpler(self, done: Sequence[Trial], size: int) -> list[Candidate]:
        """Up to `size` fresh candidates that change less than the pick so far: first all
        the undoings found harmless so far at once, then each single one. None when there
        is nothing left to try: the pick is as simple as it can be."""
        pick = choose(done, self.objective).candidate
        harmless = [
            t.candidate
            for t in near_best(done, self.objective)
            if t.candidate != pick and _meet(t.candidate, pick) == t.candidate
        ]
        tries = [functools.reduce(_meet, harmless)] if len(harmless) > 1 else []
        drawn: list[Candidate] = []
        for candidate in [*tries, *_simpler(pick)]:
            if len(drawn) < size and candidate not in self.seen:
                self.seen.add(candidate)
                drawn.append(candidate)
        return drawn

    def _plain(self, candidate: Candidate) -> Candidate:
        """The candidate without a keep-alive weight that would change nothing (the one its
        pools have, or pools the candidate leaves on the fixed rules): the same candidate as
        the one without it, to be replayed once and reported as no change."""
        pools = zip(candidate, self.pools, strict=True)
        return tuple(None if s is None else _no_idle_keep(s, pool) for s, pool in pools)

    def _random(self, number: int) -> Candidate:
        if number % 2:  # one setting for every group: a fleet-wide policy
            return (random_setting(self.rng),) * len(self.configured)
        return tuple(random_setting(self.rng) for _ in self.configured)

    def _child(self, done: Sequence[Trial]) -> Candidate:
        """A mutation of a good trial: half the time one of the objective's best four,
        else any point of the front; now and then crossed with another point of the front."""
        rng, reference = self.rng, done[0].outcome
        best = sorted(done, key=lambda t: (*self.objective.key(t.outcome, reference), t.number))
        front = pareto(done)
        parent = rng.choice(best[:4]) if rng.random() < 0.5 else rng.choice(front)
        genes = list(parent.candidate)
        if len(genes) > 1 and rng.random() < 0.25:
            other = rng.choice(front).candidate
            genes = [rng.choice(pair) for pair in zip(genes, other, strict=True)]
        n = len(genes)
        changes = [i for i, setting in enumerate(genes) if setting is not None]
        if changes and rng.random() < 0.15:  # undo a change: is it worth its keep?
            i = rng.choice(changes)
            return rng.choice(_undone(tuple(genes), i))
        count = 1 if n == 1 or rng.random() < 0.6 else rng.randint(2, n)
        for i in rng.sample(range(n), count):
            genes[i] = mutate(genes[i] or Setting(), self.configured[i], self.rng)
        return tuple(genes)


def _no_idle_keep(setting: Setting, pool: PoolConfig) -> Setting | None:
    if setting.keep is None or "keep_alive.wait_weight" in setting.fields(pool):
        return setting
    return revert(setting, "keep")


def _meet(a: Candidate, b: Candidate) -> Candidate:
    """Only the changes both candidates make."""
    return tuple(_common(x, y) for x, y in zip(a, b, strict=True))


def _common(a: Setting | None, b: Setting | None) -> Setting | None:
    if a is None or b is None:
        return None
    both = Setting(
        a.up if a.up == b.up else None,
        a.down if a.down == b.down else None,
        a.cooldown if a.cooldown == b.cooldown else None,
        a.keep if a.keep == b.keep else None,
    )
    return both if both.parts else None


def _simpler(candidate: Candidate) -> list[Candidate]:
    """The candidate with one group as configured, then with one part of a group."""
    changes = [i for i, setting in enumerate(candidate) if setting is not None]
    return [_with(candidate, i, None) for i in changes] + [
        less for i in changes for less in _undone(candidate, i) if less[i] is not None
    ]


def _undone(candidate: Candidate, i: int) -> list[Candidate]:
    """The candidate with one of group i's changed parts as configured, for each part."""
    setting = candidate[i]
    assert setting is not None
    return [
        _with(candidate, i, revert(setting, part))
        for part in PARTS
        if getattr(setting, part) is not None
    ]


def _with(candidate: Candidate, i: int, setting: Setting | None) -> Candidate:
    return (*candidate[:i], setting, *candidate[i + 1 :])


def horizon_of(trace: Trace, at: float, drain_s: float = DRAIN_S) -> float:
    """Where a replay of a part of a trace ends: `at` (the part's end) plus the drain."""
    return max(at, trace.duration) + drain_s
