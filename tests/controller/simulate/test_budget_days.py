"""Where a replay's budget days fall. t = 0 is midnight UTC of the trace's first day: of
`agentdash simulate --start`'s date (Config.replayed_from), else of 1 January 1970. A
tenant's time zone applies with its offset on the replayed dates, summer time included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.core.config import Config
from controller.simulate.backtest import make_scaler
from controller.simulate.report import summarize
from tests.support.builders import replay, trace
from tests.support.factories import config, pool

H = 3600.0


def midnight(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def london_fleet(zone: str = "Europe/London") -> Config:
    tenant = {"tier": "growth", "daily_token_budget": 1_000, "time_zone": zone}
    return config({"a": pool("t", cold_start_seconds=5)}, {"t": tenant})


def tokens_over(cfg: Config) -> int:
    """Two tasks of 600 tokens, at 22:30 and 23:30 UTC, against 1,000 tokens a day."""
    tasks = trace(cfg, (22.5 * H, "a", 10.0, 600), (23.5 * H, "a", 10.0, 600))
    summary = summarize(cfg, tasks, replay(cfg, tasks, make_scaler("keda", cfg)))
    assert summary["completed"] == 2
    return int(summary["tokens_over_budget"])


@pytest.mark.parametrize(
    ("zone", "over"),
    [
        ("UTC", 200),  # both tasks on day 0: 1,200 tokens against 1,000
        ("Europe/London", 0),  # UTC+1 all year in 1970: the day turns at 23:00 UTC
    ],
)
def test_without_a_date_a_budget_day_is_read_with_the_zone_s_offset_of_1_january_1970(
    zone: str, over: int
) -> None:
    assert tokens_over(london_fleet(zone)) == over


@pytest.mark.parametrize(
    ("start", "over"),
    [
        ("2024-01-15", 200),  # London keeps UTC in winter: both tasks on one budget day
        ("2024-07-15", 0),  # and UTC+1 in summer: the day turns at 23:00 UTC, between them
    ],
)
def test_a_dated_replay_reads_the_zone_s_offset_on_that_date(start: str, over: int) -> None:
    assert tokens_over(london_fleet().replayed_from(midnight(start))) == over


def test_a_dated_replay_s_budget_days_follow_summer_time_as_it_starts() -> None:
    # London's clocks go forward at 01:00 UTC on 31 March 2024: that budget day is 23 h long.
    cfg = london_fleet().replayed_from(midnight("2024-03-30"))
    clock = cfg.tenants["t"].clock
    assert clock.day(12 * H) == (0.0, 24 * H)
    assert clock.day(30 * H) == (24 * H, 47 * H)
    assert clock.day(50 * H) == (47 * H, 71 * H)


def test_a_dated_config_is_the_same_config_on_another_calendar() -> None:
    cfg = london_fleet()
    assert cfg.tenants["t"].clock.day(12 * H) == (-H, 23 * H)  # made first: not carried over
    dated = cfg.replayed_from(midnight("2024-01-15"))
    assert dated.tenants["t"].clock.day(12 * H) == (0.0, 24 * H)
    assert cfg.tenants["t"].clock.day(12 * H) == (-H, 23 * H)  # the original is untouched
    assert dated.model_dump() == cfg.model_dump()
    assert dated.source == cfg.source


@pytest.mark.parametrize("zone", ["UTC", "Europe/London"])
@pytest.mark.parametrize("start", [None, "2024-07-15"])
def test_a_part_of_a_trace_replayed_from_0_keeps_the_trace_s_budget_days(
    zone: str, start: str | None
) -> None:
    """tune's held-out tail, from 14:00 of the trace's second day, is replayed from 0: its
    first reset is 10 h in (9 h where London is on UTC+1), not 24 h, as it was in the trace."""
    cfg = london_fleet(zone)
    if start is not None:
        cfg = cfg.replayed_from(midnight(start))
    whole = cfg.tenants["t"].clock.day(38 * H)
    tail = cfg.replayed_later(38 * H).tenants["t"].clock
    assert tail.day(0.0) == (whole.start - 38 * H, whole.end - 38 * H)
    assert tail.day(0.0).end == (9 * H if zone != "UTC" else 10 * H)
    assert cfg.replayed_later(38 * H).replayed_later(-38 * H).tenants["t"].clock.day(H) == (
        cfg.tenants["t"].clock.day(H)
    )
