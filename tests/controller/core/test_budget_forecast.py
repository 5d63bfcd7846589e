"""The budget pace by forecast (controller.core.budget, controller.core.spend): a budget that fits
the day is never paced, whatever hour its traffic comes; one that does not fit is paced so that
the forecast fits what is left; the reset time and time zone are the tenant's own."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from controller.core.accounting import ReplicaSeconds
from controller.core.budget import WARNING, budget_rule
from controller.core.config import Config, TenantConfig
from controller.core.history import History
from controller.core.model import (
    InFlight,
    Observations,
    Overrides,
    Pin,
    PoolObservation,
    ScaleDecision,
)
from controller.core.policy import decide
from controller.core.spend import TenantSpend
from controller.sources.usage import TokenLedger, UsageReport
from tests.support.factories import config, pool, spending

H = 3600.0
DAY = 86_400.0
PER_TASK = 1_000
"""Tokens a task, in every test here."""
Rate = Callable[[float], float]


def hump(start: float, hours: float) -> Rate:
    """A half-sine of traffic from `start` (h, UTC) lasting `hours`, nothing else."""

    def rate(t: float) -> float:
        x = ((t % DAY) / H - start) / hours
        return math.sin(math.pi * x) if 0 <= x < 1 else 0.0

    return rate


def block(start: float, end: float) -> Rate:
    """Steady traffic from `start` to `end` (h, UTC) that stops dead."""
    return lambda t: 1.0 if start <= (t % DAY) / H < end else 0.0


def climb(start: float, seconds: float, peak: float) -> Rate:
    """Nothing until `start`, then a straight climb to `peak` tokens a second over `seconds`."""
    return lambda t: max(0.0, (t - start) / seconds) * peak


def bursts(start: float, end: float) -> Rate:
    """30 s bursts every 3 minutes from `start` to `end` (h, UTC)."""
    return lambda t: 6.0 if start <= (t % DAY) / H < end and t % 180 < 30 else 0.0


def noisy(shape: Rate, seed: int) -> Rate:
    """`shape` x 400 tokens a second, each minute x a seeded 0.5..1.5."""
    rng = random.Random(seed)
    factors = [rng.uniform(0.5, 1.5) for _ in range(6 * 1440)]
    return lambda t: 400.0 * shape(t) * factors[int(t // 60) % len(factors)]


SHAPES: dict[str, Rate] = {
    "early": hump(1, 9),
    "late": hump(13, 10),
    "flat": lambda t: 1.0,
    "morning, stopping dead": block(6, 12),
    "bursts, stopping dead": bursts(2, 10),
}
FALL_SHOWS = ("early", "late", "flat")
"""Shapes whose end shows in the spend before the budget gets tight: no day is paced, the first
(no profile yet, only the burn rate) included."""
CLOCKS = [("00:00", "UTC"), ("09:00", "Europe/Berlin"), ("17:30", "America/New_York")]


def tenant_config(budget: int, reset: str = "00:00", zone: str = "UTC", **more: object) -> Config:
    tenant = {"tier": "growth", "daily_token_budget": budget, "budget_reset": reset,
              "time_zone": zone, **more}  # fmt: skip
    return config({"a": pool("t", max_replicas=20)}, {"t": tenant})


def day_totals(tenant: TenantConfig, rate: Rate, first: float, days: int) -> list[float]:
    """Tokens asked for in each of `days` budget days from the one starting at `first`."""
    totals = []
    start = first
    for _ in range(days):
        end = tenant.clock.day(start).end
        totals.append(sum(rate(t) * 60 for t in range(int(start), int(end), 60)))
        start = end
    return totals


def pool_at(
    cfg: Config, spend: TenantSpend, used: int, now: float, replicas: int = 7
) -> ScaleDecision:
    """Pool a with 14 tasks waiting (it asks for 14 replicas), 2 tokens a replica-second."""
    obs = Observations(
        {
            "a": PoolObservation(
                pending=10, ack_pending=4, replicas=replicas, ready=replicas, mean_task_seconds=30.0
            )
        },
        tokens_today={"t": used},
        replica_seconds_today={"t": used / 2},
        spend={"t": spend.read(now)},
    )
    (decision,) = decide(cfg, obs, now=now)
    return decision


def paced(decision: ScaleDecision) -> bool:
    return any("(budget pace)" in reason.detail for reason in decision.reasons)


@pytest.mark.parametrize(("reset", "zone"), CLOCKS)
@pytest.mark.parametrize("shape", SHAPES)
def test_a_budget_that_fits_the_day_is_never_paced_whatever_hour_its_traffic_comes(
    shape: str, reset: str, zone: str
) -> None:
    rate = noisy(SHAPES[shape], seed=len(shape))
    first = tenant_config(1, reset, zone).tenants["t"].clock.day(0.0).end
    totals = day_totals(tenant_config(1, reset, zone).tenants["t"], rate, first, 3)
    cfg = tenant_config(round(max(totals) / 0.85), reset, zone)  # 15% to spare, every day
    tenant = cfg.tenants["t"]
    budget = tenant.daily_token_budget or 0
    spend = TenantSpend.for_tenant(tenant)
    used, day, checked = 0.0, tenant.clock.day(first), 0
    for t in range(int(first), int(first + 3 * DAY), 60):
        if tenant.clock.day(t) != day:
            used, day = 0.0, tenant.clock.day(t)
        spend.observe(round(used), t, round(used / PER_TASK))
        learned = t >= first + DAY  # a day of the profile seen
        if used >= tenant.warn_at * budget and (learned or shape in FALL_SHOWS):
            decision = pool_at(cfg, spend, round(used), t)
            assert not paced(decision), (t - first) / H
            assert decision.desired == 14
            assert decision.main_reason.detail.endswith("left: not paced")
            checked += 1
        used += rate(t) * 60
    assert checked > 0  # the tenant was past warn_at, and its forecast read


@pytest.mark.parametrize("shape", ["morning, stopping dead", "bursts, stopping dead"])
def test_on_its_first_day_a_traffic_that_stops_dead_is_paced_only_until_the_stop_shows(
    shape: str,
) -> None:
    # No profile yet: an end that comes without a fall cannot be told from traffic that goes
    # on, but the pace lets go within half an hour of it.
    rate = noisy(SHAPES[shape], seed=len(shape))
    cfg = tenant_config(round(day_totals(tenant_config(1).tenants["t"], rate, 0.0, 1)[0] / 0.85))
    spend, _ = spending(cfg.tenants["t"], rate, 0.0, 0.0)
    budget = cfg.tenants["t"].daily_token_budget or 0
    used, last = 0.0, -math.inf
    for t in range(0, int(DAY), 60):
        spend.observe(round(used), t, round(used / PER_TASK))
        if used >= 0.8 * budget and paced(pool_at(cfg, spend, round(used), t)):
            last = t
        used += rate(t) * 60
    stop = (12 if shape.startswith("morning") else 10) * H
    assert last < stop + 30 * 60


@pytest.mark.parametrize(("hours_left", "paced_now"), [(3, False), (1, True)])
def test_on_its_first_day_a_burn_rate_is_read_no_further_ahead_than_it_was_seen(
    hours_left: int, paced_now: bool
) -> None:
    # Flat traffic since 08:00 of its first day, 400 tokens a second, and 12 h to the reset
    # at noon. Carried to the reset, the line would pace any budget with less than 12 h of
    # that burn left. Read for the two hours it was seen over, it paces only a budget that
    # runs out within them.
    noon = 12 * H
    probe = tenant_config(1).tenants["t"]
    spend, used = spending(probe, lambda t: 400.0 if t >= 8 * H else 0.0, 0.0, noon)
    cfg = tenant_config(round(used + hours_left * H * 400), warn_at=0.5)
    decision = pool_at(cfg, spend, used, noon)
    forecast = spend.forecast(noon)
    assert forecast is not None
    assert forecast.short
    assert forecast.tokens == pytest.approx(400 * 2 * H, rel=0.02)
    assert paced(decision) == paced_now
    assert "(1,440,000 tokens an hour now: its last 2 h, read 2 h ahead)" in (
        decision.main_reason.detail
    )


OVER = noisy(hump(8, 12), seed=3)
"""A tenant's traffic that asks for 1/0.6 of its budget every day (`over_budget`)."""
EVENING = 2 * DAY + 14 * H
"""Day 3 at 14:00 UTC: past warn_at by now, the busiest hours behind."""


def over_budget() -> tuple[Config, TenantSpend, int]:
    """The tenant of OVER at EVENING: its config, its spend, and its tokens used today."""
    cfg = tenant_config(round(0.6 * day_totals(tenant_config(1).tenants["t"], OVER, DAY, 1)[0]))
    spend, used = spending(cfg.tenants["t"], OVER, 0.0, EVENING)
    return cfg, spend, used


def test_a_budget_that_does_not_fit_is_paced_so_that_the_forecast_fits() -> None:
    rate, evening = OVER, EVENING
    cfg, spend, used = over_budget()
    budget = cfg.tenants["t"].daily_token_budget or 0
    decision = pool_at(cfg, spend, used, evening)
    forecast = spend.forecast(evening)
    assert forecast is not None
    assert forecast.days == 2  # read from two days of its hours
    # The profile knows what is coming: within a fifth of what the rest of the day asks.
    coming = sum(rate(t) * 60 for t in range(int(evening), int(3 * DAY), 60))
    assert forecast.tokens == pytest.approx(coming, rel=0.2)
    # Paced so that the forecast fits: the forecast gets its fraction of what is left, and the
    # replicas spend that fraction of its rate now, at 1,000 tokens a 30 s task.
    left, queued = budget - used, 14 * PER_TASK
    fits = left / (forecast.tokens + queued)
    pays = fits * forecast.rate
    assert fits < 1
    assert paced(decision)
    # 2.5 replicas' worth, from 7: the upper of the two whole replicas around it.
    assert decision.desired == math.ceil(pays / (PER_TASK / 30)) == 3
    said = f"{left:,} left, {fits:.0%} of it: pays for {round(pays * 3600):,} tokens an hour now"
    assert said in decision.main_reason.detail
    assert "its hours over 2 days" in decision.main_reason.detail


@pytest.mark.parametrize(("replicas", "kept"), [(1, 2), (2, 2), (3, 3), (7, 3)])
def test_a_pace_between_two_whole_replicas_keeps_the_pool_nearest_to_where_it_is(
    replicas: int, kept: int
) -> None:
    # The pace pays for 2.5 replicas at work. Paced to the floor alone, a pool at 3 dropped to
    # 2 and came back each time a task moved its mean task time across the edge: a pod started
    # and stopped before it was up. Either whole replica around the pace will do, and the next
    # reading counts what the half above it spent; from below, the pool grows to the floor.
    cfg, spend, used = over_budget()
    decision = pool_at(cfg, spend, used, EVENING, replicas)
    assert paced(decision)
    assert decision.desired == kept
    assert f"{kept} replicas here (budget pace)" in decision.main_reason.detail


def test_on_its_first_day_a_rise_is_forecast_at_its_recent_mean_not_at_its_peak() -> None:
    # Two hours climbing from nothing to 800 tokens a second, at 15:00 UTC: the last two
    # hours' mean is 400. Held for the two hours ahead that it was seen over, the peak would
    # forecast twice what the mean does, and pace a day whose burst may end at any minute.
    cfg = tenant_config(100_000_000)
    now = 15 * H
    spend, _ = spending(cfg.tenants["t"], climb(13 * H, 2 * H, 800), 0.0, now)
    forecast = spend.forecast(now)
    assert forecast is not None
    assert forecast.burn is not None
    assert forecast.burn.slope > 0  # the line rises
    assert forecast.rate == pytest.approx(400, rel=0.05)
    assert forecast.burn.seen == pytest.approx(2 * H, abs=60)
    assert forecast.tokens == pytest.approx(400 * 2 * H, rel=0.05)


def test_a_tenant_with_no_forecast_yet_does_not_grow() -> None:
    cfg = tenant_config(1_000_000)
    spend, _ = spending(cfg.tenants["t"], lambda t: 100.0, 0.0, 5 * 60)  # 5 minutes seen
    decision = pool_at(cfg, spend, 900_000, 5 * 60)
    assert decision.desired == 7
    said = (
        "no forecast yet (it reads a profile of these hours, or the trend of 10 minutes of spend)"
    )
    assert f"{said}: no growth beyond 7, 14 -> 7" in decision.main_reason.detail


def test_with_no_forecast_yet_the_tasks_in_flight_still_fit_in_what_is_left() -> None:
    # 10,000 tokens left at 1,000 a task pay for 3 replicas' three rounds of tasks each
    # (their first the task each runs now) and the fourth task in flight, on a pod let go:
    # the pool's 7 are cut to 3 at once, busy or not, so that the tasks in flight when the
    # budget runs out fit in it. (A forecast needs ten minutes of spend; five are seen.)
    cfg = tenant_config(1_000_000)
    spend, _ = spending(cfg.tenants["t"], lambda t: 100.0, 0.0, 5 * 60)
    decision = pool_at(cfg, spend, 990_000, 5 * 60)
    assert decision.desired == 3
    said = (
        "10,000 tokens left, less 4,000 for 4 in flight, pay for 3 replicas here, at 3,000 "
        "tokens each for 3 rounds of its tasks"
    )
    assert said in decision.main_reason.detail


def test_when_the_forecast_fits_no_time_rule_keeps_more_pods_than_the_landing() -> None:
    # Each day's traffic comes in its first 50 minutes: at 01:30 on day two the profile says
    # nothing more comes, so 20,000 tokens left fit the day. Eight replicas are at work on
    # the last eight tasks; two are asked for. Kept by the time rules, all eight would take
    # a next task each; the landing lets six stay: three rounds of 1,000-token tasks each
    # (their first the task each runs now), and the two tasks still finishing on pods let go.
    tenant = {"tier": "growth", "daily_token_budget": 3_020_000}
    cfg = config({"a": pool("t", max_replicas=20, target_lag_per_replica=4)}, {"t": tenant})
    now = DAY + 1.5 * H
    spend, used = spending(cfg.tenants["t"], lambda t: 1000.0 if t % DAY < 3000 else 0.0, 0, now)
    assert used == 3_000_000
    obs = Observations(
        {
            "a": PoolObservation(
                pending=0, ack_pending=8, replicas=8, ready=8, mean_task_seconds=30.0
            )
        },
        tokens_today={"t": used},
        replica_seconds_today={"t": used / 2},
        spend={"t": spend.read(now)},
    )
    (decision,) = decide(cfg, obs, history=History(), now=now)
    assert any(reason.detail.endswith("left: not paced") for reason in decision.reasons)
    assert decision.desired == 6


@pytest.mark.parametrize(
    ("used", "tasks", "rule"),
    [
        # 8 tasks in flight, and the 8 their pods take as they finish them:
        (500_000, 20, None),  # 500,000 left cover 16 tasks at 25,000 each
        (600_000, 22, "budget warning"),  # 400,000 left do not: 16 x 27,273
        (700_000, 24, "budget warning"),  # 300,000 left would cover the 8 in flight alone
        (770_000, None, None),  # its tokens a task not known: warn_at alone
        (800_000, 27, "budget warning"),  # warn_at
    ],
)
def test_the_landing_begins_while_what_is_left_covers_the_tasks_in_flight_and_their_next(
    used: int, tasks: int | None, rule: str | None
) -> None:
    tenant = tenant_config(1_000_000).tenants["t"]
    each = used / tasks if tasks else None
    assert budget_rule(tenant, used, InFlight(tasks=8).spend(each)) == rule


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("reset", "zone", "now", "start", "end"),
    [
        ("00:00", "UTC", "2026-03-10 15:00", "2026-03-10 00:00", "2026-03-11 00:00"),
        ("09:30", "UTC", "2026-03-10 09:29", "2026-03-09 09:30", "2026-03-10 09:30"),
        ("09:00", "Europe/Berlin", "2026-01-10 07:59", "2026-01-09 08:00", "2026-01-10 08:00"),
        ("09:00", "Europe/Berlin", "2026-07-10 07:00", "2026-07-10 07:00", "2026-07-11 07:00"),
        # Clocks go forward in Berlin on 29 March 2026: that budget day is 23 h long.
        ("09:00", "Europe/Berlin", "2026-03-29 06:00", "2026-03-28 08:00", "2026-03-29 07:00"),
        # And back in New York on 1 November 2026: 25 h.
        ("00:00", "America/New_York", "2026-11-01 12:00", "2026-11-01 04:00", "2026-11-02 05:00"),
        ("17:30", "Asia/Kolkata", "2026-05-01 12:00", "2026-05-01 12:00", "2026-05-02 12:00"),
    ],
)
def test_a_budget_day_runs_from_the_tenants_reset_in_its_time_zone(
    reset: str, zone: str, now: str, start: str, end: str
) -> None:
    clock = tenant_config(1, reset, zone).tenants["t"].clock
    assert clock.day(utc(now)) == (utc(start), utc(end))


def test_budget_days_follow_one_another_across_a_reset_in_a_clock_change() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026: the days still join, no gap, no overlap.
    clock = tenant_config(1, "02:30", "Europe/Berlin").tenants["t"].clock
    day = clock.day(utc("2026-03-25 12:00"))
    for _ in range(10):
        after = clock.day(day.end)
        assert after.start == day.end
        assert 23 * H <= after.end - after.start <= 25 * H
        day = after


def test_the_pace_names_the_tenants_reset() -> None:
    cfg = tenant_config(1_000_000, "09:00", "Europe/Berlin", warn_at=0.5)
    now = utc("2026-01-10 12:00")  # 13:00 in Berlin: 20 h to the reset
    spend, _ = spending(cfg.tenants["t"], lambda t: 100.0, now - 2 * H, now)
    decision = pool_at(cfg, spend, 600_000, now)
    # 360,000 tokens an hour for 20 h: far more than the 400,000 left.
    assert paced(decision)
    assert "more by 09:00 Europe/Berlin (360,000 tokens an hour now" in decision.main_reason.detail


def test_tokens_and_replica_seconds_start_over_at_the_tenants_reset() -> None:
    cfg = tenant_config(1_000_000, "09:00", "Europe/Berlin")
    reset = utc("2026-01-10 08:00")  # 09:00 in Berlin
    ledger = TokenLedger(cfg)
    ledger.add(UsageReport(tenant="t", pool="a", tokens=500, work_s=1.0), reset - 60)
    assert ledger.usage(reset - 1).tokens_today == {"t": 500}
    assert ledger.usage(reset - 1).tasks_today == {"t": 1}
    assert ledger.usage(reset).tokens_today == {"t": 0}
    seconds = ReplicaSeconds({"t": cfg.tenants["t"].clock})
    seconds.set("t", 3, reset - 100)
    assert seconds.today(reset - 1)["t"] == pytest.approx(3 * 99)
    assert seconds.today(reset + 10)["t"] == pytest.approx(3 * 10)


@pytest.mark.parametrize("learn", [True, False])
def test_samples_the_backtest_skipped_count_as_if_each_was_taken(learn: bool) -> None:
    """A quiet stretch (the same tokens, tasks and lag at every step) counted in one go
    forecasts exactly as the same samples taken one by one."""
    tenant = tenant_config(10_000_000).tenants["t"]
    one_by_one, skipped = TenantSpend.for_tenant(tenant), TenantSpend.for_tenant(tenant)
    t, used, tasks = 0.0, 0, 0
    for minute in range(90):
        used, tasks = used + 2_000 * (minute % 7), tasks + 2 * (minute % 7)
        for spend in (one_by_one, skipped):
            spend.observe(used, t, tasks, lag=3)
        quiet = [t + k for k in range(1, 31)]  # 30 s of 1 s steps with nothing new
        for now in quiet:
            one_by_one.observe(used, now, tasks, lag=3, learn=learn)
        skipped.repeat(quiet[-1], len(quiet), learn=learn)
        t = quiet[-1] + 30.0
    assert skipped.samples == one_by_one.samples
    assert skipped.forecast(t) == one_by_one.forecast(t)
    assert skipped.forecast(t) is not None
    assert skipped.burn() == one_by_one.burn()


def test_a_read_forecasts_as_of_its_time_whenever_the_forecast_is_asked_for() -> None:
    """The pace reads every budgeted tenant once a minute but works a forecast out only when
    one is asked for (most tenants are not paced): samples taken after the read do not move
    the forecast the read gives, and it is the one the spend gave at the read."""
    tenant = tenant_config(10_000_000).tenants["t"]
    spend, used = spending(tenant, noisy(hump(1, 6), seed=3), 0.0, 2.5 * H)
    at = 2.5 * H
    expected = spend.snapshot().forecast(at)
    read = spend.read(at)
    for k in range(1, 600):  # ten more minutes of a much faster burn
        spend.observe(used + 50_000 * k, at + k, used // PER_TASK + 50 * k)
    assert spend.forecast(at + 599) != expected
    assert read.forecast == expected
    assert expected is not None
    assert expected.burn is not None
    assert read.priced(2_000.0).forecast == expected


def test_a_pin_above_the_pace_holds_and_is_the_reason_given() -> None:
    """An operator's pin beats the budget's pace: the pool gets the pin, and its decision says
    so (not the pace's lower number, which the replicas no longer show)."""
    rate = noisy(hump(8, 12), seed=3)
    day = day_totals(tenant_config(1).tenants["t"], rate, DAY, 1)[0]
    cfg = tenant_config(round(0.6 * day))
    evening = 2 * DAY + 14 * H
    spend, used = spending(cfg.tenants["t"], rate, 0.0, evening)
    unpinned = pool_at(cfg, spend, used, evening)
    assert paced(unpinned)
    pin = unpinned.desired + 2
    obs = Observations(
        {
            "a": PoolObservation(
                pending=10, ack_pending=4, replicas=7, ready=7, mean_task_seconds=30.0
            )
        },
        tokens_today={"t": used},
        replica_seconds_today={"t": used / 2},
        spend={"t": spend.read(evening)},
    )
    overrides = Overrides(pins={"a": Pin(pin, None, "ops")})
    (decision,) = decide(cfg, obs, overrides, now=evening)
    assert decision.desired == pin
    assert decision.main_reason.rule == "pin"
    assert (
        decision.main_reason.detail == f"pinned warm at {pin} by ops: {unpinned.desired} -> {pin}"
    )


@pytest.mark.parametrize(
    ("left", "waiting", "kept"), [(200_000, 14, 1), (200_000, 0, 0), (2_000, 14, 0)]
)
def test_a_pace_slows_a_queue_but_never_strands_one(left: int, waiting: int, kept: int) -> None:
    """A forecast read from the burn rate alone, before the fall shows (a flat 360,000 tokens
    an hour for the two hours ahead that it was seen over, against what is left), paces the
    pool to less than one replica's spend.
    With tasks waiting that what is left pays for, one replica still works them at the pace;
    with none waiting, or too little left to land even one replica's tasks, none."""
    cfg = tenant_config(1_000_000, "09:00", "Europe/Berlin", warn_at=0.5)
    now = utc("2026-01-10 12:00")  # 20 h to the reset
    spend, _ = spending(cfg.tenants["t"], lambda t: 100.0, now - 2 * H, now)
    used = 1_000_000 - left
    obs = Observations(
        {
            "a": PoolObservation(
                pending=waiting, ack_pending=0, replicas=0, ready=0, mean_task_seconds=30.0
            )
        },
        tokens_today={"t": used},
        replica_seconds_today={"t": used / 2},
        spend={"t": spend.read(now)},
    )
    (decision,) = decide(cfg, obs, now=now)
    assert decision.desired == kept
    if kept:
        assert paced(decision)
        assert f"at least 1 while {waiting} wait, 1 replica here (budget pace)" in (
            decision.main_reason.detail
        )


@pytest.mark.parametrize(("left", "kept"), [(400_000, 1), (2_000, 0)])
def test_a_pace_under_one_replica_lets_its_keep_alive_hold_the_replica_a_task_would_get(
    left: int, kept: int
) -> None:
    """The same pace, the pool idle on its one replica: the next task would be given a
    replica anyway, and an idle one spends no tokens, so the keep-alive holds it and the task
    waits no cold start. With too little left to land one replica's tasks, it goes."""
    cfg = tenant_config(1_000_000, "09:00", "Europe/Berlin", warn_at=0.5)
    now = utc("2026-01-10 12:00")
    spend, _ = spending(cfg.tenants["t"], lambda t: 100.0, now - 2 * H, now)
    used = 1_000_000 - left
    obs = Observations(
        {
            "a": PoolObservation(
                pending=0, ack_pending=0, replicas=1, ready=1, mean_task_seconds=30.0
            )
        },
        tokens_today={"t": used},
        replica_seconds_today={"t": used / 2},
        spend={"t": spend.read(now)},
    )
    (decision,) = decide(cfg, obs, history=History(), now=now)
    assert decision.desired == kept
    if kept:
        assert "budget pace" not in " ".join(reason.detail for reason in decision.reasons)


def many_slots(budget: int, rate: float, each: float | None = None) -> ScaleDecision:
    """Pool a of 5,000 tasks at once a pod, up to 10 pods, 7 of them up with 14 tasks (4
    running) between them, after 5 minutes at `rate` tokens a second in 1,000-token tasks
    (`each`: the tokens a task its own workers reported, if any)."""
    tenant = {"tier": "growth", "daily_token_budget": budget, "hard_cap": True}
    cfg = config({"a": pool("t", max_replicas=10, concurrency=5000)}, {"t": tenant})
    spend, used = spending(cfg.tenants["t"], lambda t: rate, 0.0, 5 * 60)
    obs = Observations(
        {
            "a": PoolObservation(
                pending=10,
                ack_pending=4,
                replicas=7,
                ready=7,
                mean_task_seconds=30.0,
                task_tokens=each,
            )
        },
        tokens_today={"t": used},
        tasks_today={"t": used // 1000},
        replica_seconds_today={"t": used / 2},
        spend={"t": spend.read(5 * 60)},
    )
    (decision,) = decide(cfg, obs, now=5 * 60)
    return decision


def test_many_slots_a_pod_do_not_start_the_landing_for_tasks_nobody_sent() -> None:
    # Its pools may run 50,000 tasks at once, 50,000,000 tokens at 1,000 each: more than the
    # 49,700,000 left. But they hold 14: the landing waits for warn_at, the pool grows.
    decision = many_slots(50_000_000, 1_000.0, each=1_000.0)
    assert decision.desired == 10
    assert not any(reason.rule == WARNING for reason in decision.reasons)


def test_past_warn_at_a_pod_of_many_slots_is_priced_by_the_tasks_it_has() -> None:
    # 150,000 tokens left: three rounds of the pool's 14 tasks cost 42,000 a pod (not
    # 3 x 5,000 tasks, 15,000,000), so 3 pods stay, not 0.
    decision = many_slots(1_000_000, 850_000 / 300)
    assert decision.desired == 3
    assert "at 42,000 tokens each for 3 rounds of its tasks" in decision.main_reason.detail


@pytest.mark.parametrize(
    ("rounds", "current", "kept"),
    [(2.5, 0, 1), (2.5, 1, 1), (2.5, 2, 2), (2.5, 3, 2), (3.5, 1, 2), (1.5, 2, 1)],
)
def test_a_pace_grows_for_the_tasks_waiting_only_a_round_past_the_edge(
    rounds: float, current: int, kept: int
) -> None:
    """What is left beyond the forecast pays a replica for each three rounds of tasks (3,000
    tokens here, at 1,000 a task). That spare falls by a task's tokens at each count and climbs
    back as the forecast runs down: at the edge of a round, a pool would start a pod and let it
    go at every count. Growing takes one round more than it pays; holding or shrinking, none."""
    cfg = tenant_config(1_000_000, warn_at=0.5)
    evening = DAY + 20 * H  # a task a minute since yesterday: 4 h of them to come
    spend, _ = spending(cfg.tenants["t"], lambda t: PER_TASK / 60, 0.0, evening)
    forecast = spend.forecast(evening)
    assert forecast is not None
    left = round(forecast.tokens + rounds * 3 * PER_TASK)
    obs = Observations(
        {
            "a": PoolObservation(
                pending=14, ack_pending=0, replicas=current, ready=current, mean_task_seconds=30.0
            )
        },
        tokens_today={"t": 1_000_000 - left},
        replica_seconds_today={"t": 10_000.0},
        spend={"t": spend.read(evening)},
    )
    (decision,) = decide(cfg, obs, now=evening)
    assert decision.desired == kept
    assert paced(decision)
    assert f"+ {kept} for the tasks waiting from the" in decision.main_reason.detail


def test_a_queue_worked_off_cheaper_than_its_mean_task_forecasts_no_less_than_nothing() -> None:
    """A tenant's waiting tasks are valued at its mean tokens a task. A backlog of a pool whose
    tasks cost less than that, worked off, counts its tokens as falling faster than they are
    spent: today reads below zero. The forecast then is of no more tokens, not of fewer than
    none (a forecast below zero made a pace that flipped a pool between 0 and its maximum)."""
    cfg = tenant_config(1_000_000, warn_at=0.5)
    tenant = cfg.tenants["t"]
    spend, _ = spending(tenant, lambda t: PER_TASK / 60, 0.0, DAY - 60)
    # From a minute before the reset, a backlog of 2,000 tasks waits: counted yesterday.
    for minute in range(-1, 180):
        spend.observe(1_000 * (minute + 1), DAY + 60 * minute, minute + 1, lag=2_000)
    # Then worked off at 1 token a task: today's tokens asked fall by about 2,000,000.
    spend.observe(182_000, DAY + 3 * H, 2_181, lag=0)
    forecast = spend.forecast(DAY + 3 * H)
    assert forecast is not None
    assert forecast.scale >= 0
    assert forecast.tokens >= 0
