"""The wall clock stepped back (NTP correcting a fast clock, a VM restored from a snapshot):
the live loop's `now` is the wall clock, so the engine is told an earlier time than before."""

from __future__ import annotations

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
        self.engine.read(0, PoolObservation(lag, 0, self.replicas, self.replicas))
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
