"""The engine's spend samples (controller.core.engine): a tenant whose tokens, tasks and lag did
not move is sampled at every step all the same, as a successor reads it (`Engine.spend`)."""

from __future__ import annotations

from controller.core.engine import Engine
from controller.core.model import PoolObservation
from controller.core.spend import SpendBook
from tests.support.factories import config, pool

BUDGETED = {"acme": {"tier": "enterprise", "daily_token_budget": 10_000_000}}


def test_what_a_successor_takes_over_counts_every_step_the_tenant_did_not_move() -> None:
    fleet = config({"chat": pool("acme")}, BUDGETED)
    engine, every_step = Engine(fleet), SpendBook(fleet)
    engine.read(0, PoolObservation(pending=0, ack_pending=0, replicas=1, ready=1))
    for now in range(0, 3 * 600):
        used, tasks = 50_000 * (now // 300), 50 * (now // 300)  # a report every five minutes
        engine.tokens("acme", used, tasks=tasks)
        engine.step(float(now))
        every_step.observe("acme", used, float(now), tasks, 0)
    taken = engine.spend.tenants["acme"]
    expected = every_step.tenants["acme"]
    assert (taken.samples, taken.at) == (expected.samples, 1799.0)
    taken.settle()  # (the quiet samples not counted yet, as the pace's reads count them)
    expected.settle()
    assert taken == expected
    assert taken.forecast(1800.0) == expected.forecast(1800.0)


def test_a_quiet_pool_whose_price_is_unknown_is_not_claimed_again_at_each_minutes_read() -> None:
    """A hard-capped pool none of whose tasks has reported is held at one replica while its
    price is unknown (controller.core.budget_unpriced): it is claimed again when what that
    hold reads moves (its tenant's tokens or tokens a task), not at every minute's read of
    the budgets. A quiet fleet's replay skips its minutes, not claims them."""
    fleet = config({"chat": pool("acme")}, {"acme": {**BUDGETED["acme"], "hard_cap": True}})
    engine = Engine(fleet)
    engine.read(0, PoolObservation(pending=0, ack_pending=0, replicas=0, ready=0))
    engine.tokens("acme", 1_000, tasks=0)
    assert engine.step(0.0) == [0]
    claims = engine.claimed
    assert [engine.step(float(now)) for now in range(1, 181)] == [[]] * 180  # three reads
    assert engine.claimed == claims
    engine.tokens("acme", 2_000, tasks=0)
    assert engine.step(181.0) == [0]  # what its hold reads moved
