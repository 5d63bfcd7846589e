"""Where a replay's budget days fall: the trace has no date, and its t = 0 is read as
1 January 1970, 00:00 UTC, so a tenant's time zone applies with its offset on that date
(docs/backtest.md says so)."""

from __future__ import annotations

import pytest

from controller.simulate.backtest import make_scaler
from controller.simulate.report import summarize
from tests.support.builders import replay, trace
from tests.support.factories import config, pool

H = 3600.0


@pytest.mark.parametrize(
    ("zone", "over"),
    [
        ("UTC", 200),  # both tasks on day 0: 1,200 tokens against 1,000
        ("Europe/London", 0),  # UTC+1 all year in 1970: the day turns at 23:00 UTC
    ],
)
def test_a_budget_day_is_read_with_the_zone_s_offset_of_1_january_1970(
    zone: str, over: int
) -> None:
    tenant = {"tier": "growth", "daily_token_budget": 1_000, "time_zone": zone}
    cfg = config({"a": pool("t", cold_start_seconds=5)}, {"t": tenant})
    tasks = trace(cfg, (22.5 * H, "a", 10.0, 600), (23.5 * H, "a", 10.0, 600))
    summary = summarize(cfg, tasks, replay(cfg, tasks, make_scaler("keda", cfg)))
    assert summary["completed"] == 2
    assert summary["tokens_over_budget"] == over
