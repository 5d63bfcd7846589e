"""Each pool's tasks priced by its own workers' reports: what its tasks in flight would spend,
and no growth under a hard cap until one of them has reported."""

from __future__ import annotations

import math

from controller.core.accounting import TokensATask
from controller.core.budget import WARNING, budget_rule
from controller.core.budget_price import in_flight
from controller.core.config import Config
from controller.core.model import Observations, PoolObservation, ScaleDecision
from controller.core.policy import decide
from controller.sources.usage import TokenLedger, UsageReport
from tests.support.factories import config, pool

DAY = 86_400.0


def two_pools() -> Config:
    tenant = {"tier": "growth", "daily_token_budget": 1_000_000, "hard_cap": True}
    pools = {
        "cheap": pool("t", max_replicas=10, concurrency=2),
        "dear": pool("t", max_replicas=10),
    }
    return config(pools, {"t": tenant})


def report(pool_name: str, tokens: int) -> UsageReport:
    return UsageReport(tenant="t", pool=pool_name, tokens=tokens, work_s=10.0)


def test_each_pool_is_priced_by_its_own_tasks_and_keeps_its_price_across_a_reset() -> None:
    ledger = TokenLedger(two_pools())
    for _ in range(9):
        ledger.add(report("cheap", 100), 100.0)
    ledger.add(report("dear", 10_000), 100.0)
    usage = ledger.usage(200.0)
    assert usage.task_tokens == {"cheap": 100.0, "dear": 10_000.0}  # not one mean of 1,090
    assert usage.tokens_today == {"t": 10_900}
    # A new budget day starts the tokens over, not the prices; the day before weighs half.
    ledger.add(report("dear", 4_000), DAY + 100.0)
    usage = ledger.usage(DAY + 200.0)
    assert usage.tokens_today == {"t": 4_000}
    assert usage.task_tokens == {"cheap": 100.0, "dear": (5_000 + 4_000) / 1.5}


def test_no_forged_token_count_reaches_a_price() -> None:
    price = TokensATask()
    for tokens in (math.nan, -5.0, math.inf):
        price.add(tokens)
    price.add(300.0)
    assert price.mean() == 75.0  # four tasks counted as free, one of 300


def test_the_tasks_in_flight_are_priced_by_their_own_pool() -> None:
    # 95,000 left. The cheap pool may run 20 tasks of 100 tokens, the dear one 10 of 10,000:
    # 102,000 in flight, more than is left, so the landing begins. Priced at the tenant's
    # mean (1,000 a task) the 30 would have come to 30,000, and the dear pool's ten tasks
    # started on the last 95,000 would have overspent it.
    cfg = two_pools()
    readings = {
        "cheap": PoolObservation(pending=50, ack_pending=0, replicas=0, ready=0, task_tokens=100.0),
        "dear": PoolObservation(
            pending=25, ack_pending=0, replicas=0, ready=0, task_tokens=10_000.0
        ),
    }
    flight = in_flight(cfg, ["cheap", "dear"], readings)
    assert flight.spend(1_000.0) == 20 * 100 + 10 * 10_000
    assert budget_rule(cfg.tenants["t"], 905_000, flight.spend(1_000.0)) == WARNING
    # A pool no task of which has reported yet counts at the tenant's mean.
    readings["dear"] = PoolObservation(pending=25, ack_pending=0, replicas=0, ready=0)
    assert in_flight(cfg, ["cheap", "dear"], readings).spend(1_000.0) == 2_000 + 10 * 1_000


def decided(
    task_tokens: float | None, replicas: int, reported: bool = True, cheap: float | None = None
) -> ScaleDecision:
    """The dear pool with 8 tasks waiting, at `replicas`, its tenant 10,000 tokens into its
    1,000,000 (`cheap`: the tokens a task of its other pool, where known)."""
    cfg = two_pools()
    pools = {
        "dear": PoolObservation(
            pending=8, ack_pending=0, replicas=replicas, ready=replicas, task_tokens=task_tokens
        )
    }
    if cheap is not None:
        pools["cheap"] = PoolObservation(
            pending=0, ack_pending=0, replicas=1, ready=1, task_tokens=cheap
        )
    obs = Observations(pools, tokens_today={"t": 10_000}, tasks_today={"t": 10} if reported else {})
    return {d.pool: d for d in decide(cfg, obs)}["dear"]


def test_under_a_hard_cap_a_pool_grows_only_once_one_of_its_tasks_has_reported() -> None:
    assert decided(None, 0).desired == 1  # one replica learns what its tasks cost
    held = decided(None, 3)
    assert held.desired == 3  # what it has is kept, never cut
    assert held.main_reason.detail == (
        "hard cap, and no task of this pool reported yet (its tokens a task): no growth beyond "
        "3 until one does, 8 -> 3"
    )
    assert decided(1_000.0, 3).desired == 8


def test_where_no_task_ever_reports_a_hard_cap_does_not_stop_growth() -> None:
    # Tokens from Prometheus alone: no task reports, so no pool would ever be priced.
    assert decided(None, 3, reported=False).desired == 8


def test_a_pool_far_from_its_tenants_hard_cap_is_not_held_to_learn_its_price() -> None:
    # 990,000 left: its 10 slots would have to cost over 9,900 tokens a task, ten times the
    # dearest price its tenant knows (990), to spend it.
    assert decided(None, 0, cheap=990.0).desired == 8
    assert decided(None, 0, cheap=9_900.0).desired == 1  # within ten times: held


def test_a_clock_stepped_back_across_the_reset_counts_the_spent_day_where_it_left_off() -> None:
    """A clock two minutes fast passes the reset early, then NTP steps it back: the day whose
    hard cap is spent is not counted from zero again (its pools would scale up and spend
    it twice), the day after keeps what it counted, and the prices are halved once."""
    ledger = TokenLedger(two_pools())
    ledger.add(report("dear", 1_100_000), DAY - 300.0)  # over the 1,000,000 cap
    ledger.add(report("dear", 3_000), DAY + 30.0)  # the fast clock's new day
    assert ledger.usage(DAY + 60.0).tokens_today == {"t": 3_000}
    back = DAY + 60.0 - 120.0  # 23:59: yesterday again
    assert ledger.usage(back).tokens_today == {"t": 1_100_000}
    ledger.add(report("dear", 1_000), back + 10.0)
    usage = ledger.usage(DAY + 10.0)  # midnight again
    assert usage.tokens_today == {"t": 3_000}
    assert usage.task_tokens["dear"] == (1_100_000 / 2 + 3_000 + 1_000) / 2.5
