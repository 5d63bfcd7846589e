"""The wall clock stepped back (NTP correcting a fast clock, a VM restored from a snapshot):
the live loop's `now` is the wall clock, so the engine is told an earlier time than before."""

from __future__ import annotations

import pytest

from controller.core.engine import Engine
from controller.core.model import PoolObservation, ScaleDecision
from tests.support.factories import config, pool

BEHAVIOR = {"scale_up": {"stabilization_seconds": 30, "max_pods": 10, "period_seconds": 60}}


class Fleet:
    """One pool under the engine, scaled as it decides."""

    def __init__(self) -> None:
        cfg = config({"a": pool("t", max_replicas=50, behavior=BEHAVIOR, cooldown_seconds=0)})
        self.engine = Engine(cfg)
        self.replicas = 0

    def tick(self, now: float, lag: int) -> ScaleDecision:
        self.engine.read(
            0,
            PoolObservation(
                pending=lag, ack_pending=0, replicas=self.replicas, ready=self.replicas
            ),
        )
        self.engine.step(now)
        decision = self.engine.decision(0)
        if decision.changes:
            self.engine.scaled(0, now, decision.current, decision.desired)
            self.replicas = decision.desired
        return decision


def test_a_clock_stepped_back_an_hour_holds_a_scale_up_one_window_not_an_hour() -> None:
    fleet = Fleet()
    assert fleet.tick(0.0, lag=2).desired == 2
    assert fleet.tick(10.0, lag=3).desired == 2  # the up window's lowest is 2
    back = 11.0 - 3600.0
    assert fleet.tick(back, lag=9).desired == 2
    # The 2 was recommended before the step: it leaves the window 30 s on, not an hour on.
    assert fleet.tick(back + 31.0, lag=9).desired == 9


BUDGETED = {"acme": {"tier": "enterprise", "daily_token_budget": 100_000_000}}


def _burning(step_back: float) -> Engine:
    """A tenant burning 1,000 tokens a second for two hours, then 3,000 for half an hour, the
    clock stepped back by `step_back` between the two."""
    engine = Engine(config({"chat": pool("acme")}, BUDGETED))
    engine.read(0, PoolObservation(pending=0, ack_pending=0, replicas=4, ready=4))
    used = 0
    for now in range(36_000, 43_200):
        used += 1_000
        engine.tokens("acme", used, tasks=used // 1_000)
        engine.step(float(now))
    for now in range(43_200, 43_200 + 1_800):
        used += 3_000
        engine.tokens("acme", used, tasks=used // 1_000)
        engine.step(now - step_back)
    return engine


def test_a_clock_stepped_back_an_hour_does_not_freeze_the_budgets_forecast_for_an_hour() -> None:
    """The pace reads a tenant's forecast once a minute: read on the clock before the step,
    the next read was an hour away, and every sample was dropped as "not after the last" until
    the clock got there again. A tenant whose burn tripled meanwhile was paced on the old."""
    stepped, steady = _burning(3_600.0), _burning(0.0)
    read, expected = stepped.pace.reads["acme"], steady.pace.reads["acme"]
    assert read.at == expected.at - 3_600  # read at every minute since the step
    assert read.forecast is not None
    assert expected.forecast is not None
    # Its last two hours, as if unstepped (but for the second of the step itself).
    assert read.forecast.rate == pytest.approx(expected.forecast.rate, rel=0.001)
    assert read.forecast.rate > 1_400


def test_replica_seconds_never_fall_when_the_clock_steps_back() -> None:
    engine = Engine(config({"chat": pool("acme")}, BUDGETED))
    engine.read(0, PoolObservation(pending=0, ack_pending=0, replicas=10, ready=10))
    engine.step(36_000.0)
    engine.step(36_600.0)
    engine.step(36_000.0 - 3_600)
    engine.step(36_000.0 - 3_600 + 60)
    assert engine.pace.spent["acme"] == 10 * (600 + 60)
