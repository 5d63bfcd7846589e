"""The budget pace by forecast in the backtest, over days: a tenant whose day fits its budget is
served as if it had none, whatever hour its traffic comes and whenever its budget resets; one
whose day does not fit spends its budget over the day, never past it."""

from __future__ import annotations

import math
import random

import pytest

from controller.core.config import Config
from controller.simulate.cluster import Cluster
from controller.simulate.shell import VirtualLoop
from controller.simulate.trace import Trace
from tests.support.builders import replay, trace
from tests.support.factories import config, pool

pytestmark = pytest.mark.e2e

H = 3600.0
DAY = 86_400.0
TOKENS = 1_000
"""Each task's tokens."""


def fleet(budget: int | None, reset: str = "00:00", zone: str = "UTC") -> Config:
    tenant: dict[str, object] = {"tier": "growth", "budget_reset": reset, "time_zone": zone}
    if budget is not None:
        tenant["daily_token_budget"] = budget
    pools = {"a": pool("t", max_replicas=20, cold_start_seconds=10, target_lag_per_replica=2)}
    return config(pools, {"t": tenant}, interval=5.0)


def days_of(cfg: Config, start: float, hours: float, days: int, seed: int = 1) -> Trace:
    """`days` days of Poisson arrivals under a half-sine from `start` (h, UTC) lasting
    `hours`, up to 0.4 a second; tasks of 30 s and TOKENS tokens."""
    rng = random.Random(seed)
    rows = []
    t = 0.0
    while t < days * DAY:
        t += rng.expovariate(0.4)
        x = ((t % DAY) / H - start) / hours
        if 0 <= x < 1 and rng.random() < math.sin(math.pi * x):
            rows.append((t, "a", 30.0, TOKENS))
    return trace(cfg, *rows)


def tasks_a_day(tasks: Trace, reset: float) -> int:
    """The most tasks one budget day of `tasks` has (days from `reset`, 24 h long)."""
    counts: dict[int, int] = {}
    for t in tasks.t:
        day = math.floor((t - reset) / DAY)
        counts[day] = counts.get(day, 0) + 1
    return max(counts.values())


def run(cfg: Config, tasks: Trace, days: int = 3) -> Cluster:
    """The backtest to the end of the last day."""
    return replay(cfg, tasks, VirtualLoop(cfg), drain=days * DAY - tasks.duration)


@pytest.mark.parametrize(
    ("start", "reset", "zone", "offset"),
    [
        (1.0, "00:00", "UTC", 0.0),  # traffic early in the budget day
        (14.0, "00:00", "UTC", 0.0),  # late
        (1.0, "09:00", "Europe/Berlin", 8 * H),  # the day resets mid-traffic (08:00 UTC)
    ],
)
def test_a_tenant_whose_day_fits_is_served_as_if_it_had_no_budget(
    start: float, reset: str, zone: str, offset: float
) -> None:
    unbounded = fleet(None, reset, zone)
    tasks = days_of(unbounded, start, 9, days=3)
    budget = round(tasks_a_day(tasks, offset) * TOKENS / 0.85)
    bounded = fleet(budget, reset, zone)
    free, paced = run(unbounded, tasks), run(bounded, tasks)
    assert list(paced.wait) == list(free.wait)  # never held back: every task waited the same
    assert paced.tenants["t"].over == 0


def test_a_tenant_whose_day_does_not_fit_spends_its_budget_over_the_day_never_past_it() -> None:
    cfg = fleet(None)
    tasks = days_of(cfg, 6.0, 12, days=3)
    budget = round(0.6 * tasks_a_day(tasks, 0.0) * TOKENS)
    cluster = run(fleet(budget), tasks)
    assert cluster.tenants["t"].over == 0
    # Day 3, read from two days of its hours: the budget is spent, to within a task a replica
    # (nothing stranded), and not before the day's traffic is over: tasks start in its last
    # hour (17:00) and after.
    starts = [t + w for t, w in zip(tasks.t, cluster.wait, strict=True) if w >= 0]
    third = [s for s in starts if 2 * DAY <= s < 3 * DAY]
    assert len(third) * TOKENS >= budget - 20 * TOKENS
    hours = {int((s - 2 * DAY) // H) for s in third}
    assert {17, 18} <= hours


def test_a_hard_cap_with_a_backlog_at_its_reset_is_not_overspent_by_the_first_tasks() -> None:
    """A budget of 20 tasks a day against a task a minute: at each reset thousands wait. Right
    after it no task is done yet today, but the tenant's tokens a task are known from the day
    before: what 40 replicas would start at once is weighed against what is left (they used
    to start 40 tasks, twice the day's budget, then 40 more before the count came in)."""
    tenant = {"tier": "growth", "daily_token_budget": 20 * TOKENS, "hard_cap": True}
    cfg = config({"a": pool("t", max_replicas=40)}, {"t": tenant})
    tasks = trace(cfg, *[(60.0 * k, "a", 30.0, TOKENS) for k in range(2 * 1440)])
    cluster = run(cfg, tasks, days=2)
    assert cluster.tenants["t"].over == 0
    starts = [t + w for t, w in zip(tasks.t, cluster.wait, strict=True) if w >= 0]
    assert any(DAY <= s < 2 * DAY for s in starts)  # the second day still serves


def test_a_budget_a_hundred_times_short_is_spent_though_its_pace_rounds_to_no_replica() -> None:
    """Two pools of one tenant ask for about a hundred times its budget. Spread along that
    forecast, the pace pays each pool far less than one replica, which rounds down to none:
    a pool then keeps one while the tenant has spent less than an even share of its budget by
    that hour (with a few rounds' hysteresis), so the days' budgets are spent, never past."""
    tenant = {"tier": "growth", "daily_token_budget": 200_000, "hard_cap": True}
    cfg = config(
        {
            "dear": pool("t", max_replicas=3, cold_start_seconds=60),
            "cheap": pool("t", max_replicas=30, concurrency=4),
        },
        {"t": tenant},
    )
    rows = [(20.0 * k, "dear", 60.0, 10_000) for k in range(2 * 4320)]
    rows += [(20.0 * k + 7, "cheap", 60.0, 1_000) for k in range(2 * 4320)]
    tasks = trace(cfg, *sorted(rows))
    cluster = run(cfg, tasks, days=2)
    assert cluster.tenants["t"].over == 0
    spent = sum(n for n, w in zip(tasks.tokens, cluster.wait, strict=True) if w >= 0)
    # 86% of two days' budget; the pace that rounded to none spent 73%. What is left is the
    # end of each day: the cheap pool's landing prices its rounds at the tenant's mean tokens
    # a task, 5,000, which the last 32,000 do not pay for three rounds of.
    assert spent >= 0.8 * 2 * 200_000
    assert cluster.reversals < 50


def test_a_hard_cap_too_small_to_learn_its_price_is_not_overspent_at_its_resets() -> None:
    """A budget of five 10,000-token tasks a day: its spend never sees the ten tasks it needs
    to price a task, nor, right after a reset, a replica-second today. The first day's tasks
    in flight when the cap is met cannot be known before one is done; at each reset after,
    a pace with nothing to price a replica by grows no pool beyond one (it started 21 tasks
    on 50,000 tokens), so the days after are served their five tasks, and none over."""
    tenant = {"tier": "growth", "daily_token_budget": 50_000, "hard_cap": True, "warn_at": 0.5}
    # A pod told to stop finishes its task (its grace covers the 60 s), as operating.md
    # asks: the landing lets the pod that took the day's fifth task go as it runs it.
    spec = pool("t", max_replicas=30, cold_start_seconds=5, termination_grace_seconds=90)
    cfg = config({"a": spec}, {"t": tenant})
    tasks = trace(cfg, *[(5.0 * k, "a", 60.0, 10_000) for k in range(2 * 17_280)])
    first, three = run(cfg, tasks, days=1), run(cfg, tasks, days=3)
    assert three.tenants["t"].over == first.tenants["t"].over
    assert three.completed - first.completed == 2 * 5


def test_a_queue_that_cannot_be_valued_is_not_taken_to_fit_what_is_left() -> None:
    """The same budget, a task every 113 s: the day's spend, all the budget let through, is
    what the forecast learns. The tenant's tokens a task, from fewer than ten tasks, are not
    read, and the 700 tasks waiting at the reset counted as none, so the queue "fit" the
    50,000 tokens: 30 replicas of 4 tasks started at the reset, 2,350,000 tokens over in its
    first hour. Its pool's own tokens a task price them."""
    tenant = {"tier": "growth", "daily_token_budget": 50_000, "hard_cap": True, "warn_at": 0.5}
    spec = pool("t", max_replicas=30, cold_start_seconds=20, concurrency=4)
    cfg = config({"a": spec}, {"t": tenant})
    tasks = trace(cfg, *[(113.0 * k, "a", 30.0, 10_000) for k in range(764)])
    day = replay(cfg, tasks, VirtualLoop(cfg), drain=DAY - tasks.duration)
    after = replay(cfg, tasks, VirtualLoop(cfg), drain=DAY + H - tasks.duration)
    assert day.tenants["t"].over == 0
    # Priced by its own tasks, the pool is held to the landing: two rounds of a pod of four
    # 10,000-token tasks (80,000) are more than the whole budget, so after the reset none
    # starts, and nothing goes over (a pod let go mid-round loses its tasks).
    assert after.tenants["t"].over == 0
