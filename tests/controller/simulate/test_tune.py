"""The tuner as its user relies on it: it finds a better behavior where the configured one is
plainly wasteful, it never sees the held-out tail, and it picks by the objective asked for."""

from __future__ import annotations

import random

import pytest
import yaml

from controller.config import Config, parse_config
from controller.simulate.behavior_grid import (
    GRID,
    KNOBS,
    Down,
    Group,
    Setting,
    groups,
    knob,
    mutate,
    nearest,
    revert,
)
from controller.simulate.trace import Trace
from controller.simulate.tune import (
    Objective,
    Outcome,
    Search,
    Trial,
    horizon_of,
    pareto,
    search,
    split,
)

WASTEFUL = """\
cluster: {max_pods: 40}
tiers: {enterprise: {priority: 1000}, starter: {priority: 100}}
tenants:
  acme: {tier: enterprise}
  initech: {tier: starter}
pools:
  hoarder:                      # keeps its pods an hour after every burst
    tenant: acme
    deployment: {name: hoarder}
    queue: {stream: AGENT_TASKS, consumer: hoarder}
    max_replicas: 10
    cooldown_seconds: 3600
    cold_start_seconds: 20
    behavior:
      scale_down: {stabilization_seconds: 3600}
  steady:
    tenant: initech
    deployment: {name: steady}
    queue: {stream: AGENT_TASKS, consumer: steady}
    max_replicas: 4
    target_lag_per_replica: 2
"""


def wasteful() -> Config:
    return parse_config(yaml.safe_load(WASTEFUL))


def workload(config: Config, hours: float = 8.0, tail_factor: int = 1) -> Trace:
    """`hoarder`: ten one-minute tasks at once every two hours; `steady`: one task a minute.
    In the last 30% of the time, `tail_factor` times as many of each."""
    rows: list[tuple[float, int, float, int]] = []
    end, cut = hours * 3600, hours * 3600 * 0.7
    for start in range(0, int(end), 7200):
        many = 10 * (tail_factor if start >= cut else 1)
        rows += [(float(start) + 5, 0, 60.0, 100)] * many
    for t in range(0, int(end), 60):
        rows += [(float(t), 1, 20.0, 50)] * (tail_factor if t >= cut else 1)
    return Trace.build(config.pools, rows)


def tune(config: Config, trace: Trace, objective: str = "cost", **kwargs: object) -> Search:
    part = split(trace, 0.3)
    return search(
        config,
        part.head,
        groups(config, part.head, "pool"),
        horizon=horizon_of(part.head, part.at),
        objective=Objective.parse(objective),
        trials=16,
        **kwargs,  # type: ignore[arg-type]
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


def test_the_search_never_sees_the_held_out_tail() -> None:
    config = wasteful()
    quiet, busy = workload(config), workload(config, tail_factor=5)
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


def test_one_process_or_two_give_the_same_search() -> None:
    config = wasteful()
    trace = workload(config, hours=4)
    assert tune(config, trace, workers=1).trials == tune(config, trace, workers=2).trials


def test_a_time_budget_stops_the_search_between_batches() -> None:
    config = wasteful()
    ticks = iter(range(0, 10_000, 10))  # every look at the clock: 10 s later
    found = tune(config, workload(config, hours=4), workers=1, time_budget=25.0,
                 clock=lambda: float(next(ticks)))  # fmt: skip
    assert found.stopped_early
    assert 0 < len(found.trials) < 16
    assert found.trials[0].candidate == (None, None)  # the current config always runs


def test_by_tier_one_setting_covers_every_pool_of_the_tier() -> None:
    config = wasteful()
    trace = workload(config)
    assert groups(config, trace, "tier") == [
        Group("enterprise", ("hoarder",)),
        Group("starter", ("steady",)),
    ]
    only_steady = Trace(trace.pools, [0.0], [1], [5.0], [1])
    assert groups(config, only_steady, "pool") == [Group("steady", ("steady",))]


def outcome(p95: float, pod_seconds: float) -> Outcome:
    return Outcome(p95, pod_seconds, {}, 0, 0)


FRONT = [
    Trial(0, (None,), outcome(20.0, 1000.0)),  # the current config
    Trial(1, (None,), outcome(10.0, 1000.0)),  # better p95 at the same cost
    Trial(2, (None,), outcome(20.0, 600.0)),  # cheaper at the same p95
    Trial(3, (None,), outcome(4.0, 1500.0)),  # fastest, dearest
    Trial(4, (None,), outcome(60.0, 300.0)),  # cheapest, slowest
    Trial(5, (None,), outcome(25.0, 1100.0)),  # dominated
]


def chosen(objective: str) -> int:
    return Search((), tuple(FRONT), Objective.parse(objective), 0.0, False).chosen.number


def test_each_objective_picks_its_point_of_the_front() -> None:
    assert [t.number for t in pareto(FRONT)] == [4, 2, 1, 3]
    assert chosen("p95") == 1  # 3 is faster but costs more than the current config
    assert chosen("cost") == 2  # 4 is cheaper but slower than the current config
    # ((p95 + 1) / 21 x pod-seconds / 1000)^0.5: #3 0.60, #1 0.72, #2 0.77, #4 0.93
    assert chosen("balanced") == 3
    assert chosen("balanced:0.1") == 4  # nearly all about cost
    assert chosen("balanced:0.9") == 3  # nearly all about the wait


def test_nothing_better_keeps_the_current_config() -> None:
    only_worse = (FRONT[0], Trial(1, (None,), outcome(30.0, 2000.0)))
    for objective in ("p95", "cost", "balanced"):
        assert Search((), only_worse, Objective.parse(objective), 0, False).chosen.number == 0


@pytest.mark.parametrize("bad", ["fast", "p95:0.5", "balanced:1", "balanced:0", "balanced:x"])
def test_a_bad_objective_says_what_is_expected(bad: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        Objective.parse(bad)


def test_mutations_stay_on_the_grid_from_the_configured_values_nearest_point() -> None:
    config = wasteful()
    pool = config.pools["hoarder"]
    start = nearest(pool)
    assert start.down is not None
    assert (start.down.window, start.cooldown) == (600, 600)  # the grid's longest
    rng = random.Random(3)
    setting = Setting()
    for _ in range(200):
        moved = mutate(setting, start, rng)
        assert moved != setting
        assert all(knob(moved, k) in (None, *GRID[k]) for k in KNOBS)
        setting = moved
    assert setting.up is not None
    assert setting.down is not None
    assert setting.cooldown is not None
    tuned = setting.apply(pool)
    assert tuned.cooldown_seconds == setting.cooldown
    assert tuned.behavior.scale_down.stabilization_seconds == setting.down.window
    assert tuned.behavior.scale_down.tolerance == pool.behavior.scale_down.tolerance


def test_a_part_left_as_configured_is_neither_applied_nor_written() -> None:
    pool = wasteful().pools["hoarder"]
    only_down = Setting(down=Down(120, 50, 30))
    tuned = only_down.apply(pool)
    assert tuned.behavior.scale_up == pool.behavior.scale_up
    assert tuned.cooldown_seconds == pool.cooldown_seconds
    assert list(only_down.fields(pool)) == ["behavior.scale_down"]
    assert Setting(cooldown=3600).fields(pool) == {}  # what it has already
    assert revert(only_down, "down") is None
