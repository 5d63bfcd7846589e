"""A pool whose change was not made (controller.core.engine `retry`): the API's client had no
token for the call, or a call was still in flight. It comes back at the next step to be acted
on, its decision as it stands; it is not claimed again while nothing it reads moves, so a fleet
whose scale calls are throttled does not claim its whole backlog at every tick."""

from __future__ import annotations

from controller.core.engine import Engine
from controller.core.model import PoolObservation
from tests.support.factories import config, pool


def _waiting_fleet() -> Engine:
    engine = Engine(config({"chat": pool("acme"), "code": pool("acme")}))
    for i in (0, 1):
        engine.read(i, PoolObservation(pending=6, ack_pending=0, replicas=0, ready=0))
    return engine


def test_a_change_not_made_is_returned_at_the_next_steps_without_a_claim() -> None:
    engine = _waiting_fleet()
    assert engine.step(0.0) == [0, 1]
    wanted = engine.decision(1)
    assert wanted.changes
    assert wanted.desired > 0
    claims = engine.claimed
    for now in (1.0, 2.0, 3.0):  # the call waits for a token three ticks running
        engine.retry(1)
        assert engine.calm_until() == float("-inf")  # a quiet step would drop the call
        assert engine.step(now) == [1]
        assert engine.decision(1) == wanted
    assert engine.claimed == claims
    assert engine.step(4.0) == []  # made at last (or given up): nothing owed


def test_a_pool_owed_a_call_whose_reading_moves_is_claimed_again() -> None:
    engine = _waiting_fleet()
    engine.step(0.0)
    claims = engine.claimed
    engine.retry(1)
    engine.read(1, PoolObservation(pending=30, ack_pending=0, replicas=0, ready=0))
    assert engine.step(1.0) == [1]
    assert engine.claimed == claims + 1
    assert engine.decision(1).desired > 3
