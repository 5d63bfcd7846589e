"""What comes next for a pool by time alone, as the dashboard's snapshot says it, here: when
its tenant's daily budget runs out at the burn of the last minutes, and where the pool goes."""

from __future__ import annotations

from controller.core.budget import WARNING
from controller.core.config import Config
from controller.core.model import (
    Observations,
    Overrides,
    PoolObservation,
    PoolState,
    Reason,
    ScaleDecision,
)
from controller.core.pool_state import budget_next
from controller.runtime.snapshot import TenantRow, Trends, build_snapshot
from tests.support.factories import config, pool

NOW = 1_767_225_600.0 + 12 * 3600  # 2026-01-01 12:00:00 UTC
BUDGET = 1_000_000
AN_HOUR_LEFT = BUDGET - 60 * 1000  # at 1,000 tokens a minute


def fleet(hard_cap: bool = True) -> Config:
    return config(
        {"research": pool("acme"), "batch": pool("initech")},
        {
            "acme": {"tier": "enterprise", "daily_token_budget": BUDGET, "hard_cap": hard_cap},
            "initech": {"tier": "starter"},
        },
    )


def test_a_hard_cap_goes_to_0_then_a_soft_one_to_its_floor() -> None:
    for hard_cap, then in ((True, "-> 0"), (False, "-> 1 (its floor)")):
        tenant = fleet(hard_cap).tenants["acme"]
        assert budget_next(tenant, 3600.0, 2, NOW, floor=1) == (
            f"budget runs out 13:00:00 UTC (in 60 min) at its burn rate {then}"
        )
    soft = fleet(hard_cap=False).tenants["acme"]
    assert budget_next(soft, 3600.0, 1, NOW, floor=1) == ""  # at its floor: nothing to lose


def test_nothing_is_said_for_a_pool_at_0_no_burn_or_a_budget_that_starts_over_first() -> None:
    tenant = fleet().tenants["acme"]
    assert budget_next(tenant, 3600.0, 0, NOW) == ""
    assert budget_next(tenant, None, 2, NOW) == ""
    assert budget_next(tenant, 13 * 3600.0, 2, NOW) == ""  # past 00:00 UTC, its reset


def test_the_snapshot_tells_each_pool_of_a_tenant_burning_its_last_hour() -> None:
    cfg = fleet()
    trends = Trends()
    trends.add_tokens("acme", NOW - 60, AN_HOUR_LEFT - 1000)
    trends.add_tokens("acme", NOW, AN_HOUR_LEFT)
    rows = build_snapshot(
        cfg,
        now=NOW,
        overrides=Overrides(),
        observed=Observations(
            pools={
                name: PoolObservation(pending=0, ack_pending=0, replicas=1)
                for name in ("research", "batch")
            },
            tokens_today={"acme": AN_HOUR_LEFT},
        ),
        states={name: PoolState(1, 1) for name in ("research", "batch")},
        decisions={},
        trends=trends,
        dry_run=False,
        mode="running",
        problems={},
    ).pools
    told = {row.name: row.next_step for row in rows}
    assert told == {
        "research": "budget runs out 13:00:00 UTC (in 60 min) at its burn rate -> 0",
        "batch": "",  # no budget
    }


def test_a_tenant_its_budget_holds_at_0_is_not_said_to_run_out_at_its_burn_rate() -> None:
    """Its burn rate, a fit over hours, still counts the minutes before the hold: at 99.9%
    used it would say "runs out in 0 s" for as long as the hold lasts, nothing burning."""
    cfg = fleet()
    trends = Trends()
    trends.add_tokens("acme", NOW - 60, BUDGET - 1_000_000)
    trends.add_tokens("acme", NOW, BUDGET - 1000)
    paced = Reason(rule=WARNING, template="paced: {} -> {}", args=(2, 0))

    def tenants(research_replicas: int) -> dict[str, TenantRow]:
        snapshot = build_snapshot(
            cfg,
            now=NOW,
            overrides=Overrides(),
            observed=Observations(
                pools={
                    "research": PoolObservation(
                        pending=5, ack_pending=0, replicas=research_replicas
                    ),
                    "batch": PoolObservation(pending=0, ack_pending=0, replicas=1),
                },
                tokens_today={"acme": BUDGET - 1000},
            ),
            states={"research": PoolState(research_replicas, 0), "batch": PoolState(1, 1)},
            decisions={
                "research": ScaleDecision(
                    pool="research",
                    tenant="acme",
                    current=research_replicas,
                    desired=0,
                    reasons=(paced,),
                    recommendation=2,
                )
            },
            trends=trends,
            dry_run=False,
            mode="running",
            problems={},
        )
        return {row.name: row for row in snapshot.tenants}

    held = tenants(research_replicas=0)["acme"]
    assert (held.held, held.runs_out_in()) == (True, None)
    going = tenants(research_replicas=2)["acme"]  # still burning on its way down
    assert going.held is False
    assert going.runs_out_in() is not None
    assert tenants(research_replicas=0)["initech"].held is False  # no budget, nothing held
