"""The tuner as its user relies on it: it finds a better behavior where the configured one is
plainly wasteful, undoes the changes that buy nothing, and never sees the held-out tail."""

from __future__ import annotations

import pytest

from controller.core.config import Config
from controller.simulate.behavior_grid import Group, groups
from controller.simulate.trace import Trace
from controller.simulate.tradeoff import Objective
from controller.simulate.tune import Search, horizon_of, search, split
from tests.support.tuning import wasteful, workload


def tune(config: Config, trace: Trace, objective: str = "cost", **kwargs: object) -> Search:
    part = split(trace, 0.3)
    return search(
        config,
        part.head,
        groups(config, part.head, "pool"),
        horizon=horizon_of(part.head, part.at),
        objective=Objective.parse(objective),
        **({"trials": 16} | kwargs),  # type: ignore[arg-type]
    )


def test_a_wasteful_scale_down_is_tuned_to_fewer_pod_seconds_at_no_worse_p95() -> None:
    config = wasteful()
    found = tune(config, workload(config), workers=2)
    current, chosen = found.current.outcome, found.chosen.outcome
    assert chosen.pod_seconds < 0.8 * current.pod_seconds
    assert chosen.p95 <= current.p95
    hoarder = dict(zip([g.name for g in found.groups], found.chosen.candidate, strict=True))[
        "hoarder"
    ]
    assert hoarder is not None
    assert hoarder.down is not None or hoarder.cooldown is not None  # what wasted the pods
    steady = found.chosen.candidate[1]
    assert steady is None  # changes that buy nothing are undone before the end


def test_every_keep_alive_weight_tried_changes_a_pool_that_learns_it() -> None:
    # The hoarder is on the fixed rules: a weight there would change nothing. The steady pool
    # learns its keep-alive: a weight tried there is one it has not (a weight of 1, its own,
    # would replay the same candidate twice and be reported as a change).
    config = wasteful()
    found = tune(config, workload(config, hours=2.0), trials=24, workers=2)
    weights = 0
    for trial in found.trials:
        for group, setting in zip(found.groups, trial.candidate, strict=True):
            if setting is not None and setting.keep is not None:
                weights += 1
                pool = config.pools[group.pools[0]]
                assert "keep_alive.wait_weight" in setting.fields(pool), (group, setting)
    assert weights > 0


def test_the_search_never_sees_the_held_out_tail() -> None:
    config = wasteful()
    # Four hours: the tails differ by five times the steady pool's tasks, which any look at
    # them would show in every trial's outcome.
    quiet, busy = workload(config, hours=4), workload(config, hours=4, tail_factor=5)
    assert len(busy) > len(quiet)
    one, other = split(quiet, 0.3), split(busy, 0.3)
    assert one.head == other.head  # the same head, the tails apart
    assert one.tail != other.tail
    # The search is handed the head alone, and gives the same trials, candidate for candidate.
    assert tune(config, quiet).trials == tune(config, busy).trials


def test_the_split_is_by_time_and_the_tail_starts_at_zero() -> None:
    config = wasteful()
    trace = workload(config)
    part = split(trace, 0.25)
    assert part.at == pytest.approx(0.75 * trace.duration)
    assert len(part.head) + len(part.tail) == len(trace)
    assert max(part.head.t) < part.at
    assert part.tail.t == [t - part.at for t in trace.t if t >= part.at]
    assert split(trace, 0).tail.t == []
    for bad in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="holdout"):
            split(trace, bad)


def test_the_holdout_is_a_share_of_the_span_from_the_first_arrival() -> None:
    config = wasteful()
    # Tasks only in the hour before midnight: that hour is the span to share, not the day.
    trace = Trace.build(config.pools, [(82_800.0 + 60 * k, 1, 20.0, 50) for k in range(60)])
    part = split(trace, 0.3)
    assert part.start == 82_800.0
    assert part.at == pytest.approx(82_800.0 + 0.7 * 59 * 60)
    assert len(part.head) == 42
    assert len(part.tail) == 18
    assert split(trace, 0).start == 82_800.0


def test_one_process_or_two_give_the_same_search() -> None:
    config = wasteful()
    trace = workload(config, hours=4)
    assert tune(config, trace, workers=1).trials == tune(config, trace, workers=2).trials


def test_a_time_budget_shorter_than_the_first_batch_stops_it_after_one_round() -> None:
    """The first batch's first round (one replay a worker) measures the pace before the rest
    of the batch is started: the current config, replayed in 10 s, leaves no room for 7 more
    in a budget of 25 s."""
    config = wasteful()
    ticks = iter(range(0, 10_000, 10))  # every look at the clock: 10 s later
    found = tune(config, workload(config, hours=4), workers=1, time_budget=25.0,
                 clock=lambda: float(next(ticks)))  # fmt: skip
    assert found.stopped_early
    assert [trial.candidate for trial in found.trials] == [(None, None)]


def test_by_tier_one_setting_covers_every_pool_of_the_tier() -> None:
    config = wasteful()
    trace = workload(config)
    assert groups(config, trace, "tier") == [
        Group("enterprise", ("hoarder",)),
        Group("starter", ("steady",)),
    ]
    only_steady = Trace(trace.pools, [0.0], [1], [5.0], [1])
    assert groups(config, only_steady, "pool") == [Group("steady", ("steady",))]


def test_a_pick_with_nothing_to_undo_searches_with_the_trials_kept_for_undoing() -> None:
    """A third of the trials (and their time) is kept for undoing the pick's changes one by
    one. Where the current config stays the pick, there is nothing to undo: the search goes
    on with them, and no time budget is said to have run out."""
    config = wasteful()
    busy = workload(config, hours=4)
    lone = Trace.build(busy.pools, [(busy.t[0], busy.pool[0], 1.0, 10)])
    found = search(
        config,
        lone,
        groups(config, lone, "pool"),
        horizon=lone.duration + 600,
        objective=Objective.parse("p95"),
        trials=16,
        workers=1,
        time_budget=3600.0,
    )
    assert found.chosen.candidate == (None,)
    assert len(found.trials) == 16
    assert not found.stopped_early
