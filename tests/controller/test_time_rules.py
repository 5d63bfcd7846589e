"""The time rules (cooldown, stabilization, rate policies), driven by an injected clock."""

from __future__ import annotations

import itertools
from typing import Any

from controller.config import Config
from controller.history import History
from controller.model import Observations, ScaleDecision
from controller.policy import decide
from tests.factories import config, observe, pool

BEHAVIOR = {
    "scale_up": {"stabilization_seconds": 30, "max_pods": 10, "period_seconds": 60},
    "scale_down": {"stabilization_seconds": 300, "max_pods": 5, "period_seconds": 120},
}


class Loop:
    """The live loop's bookkeeping, without I/O: decide, actuate at once, record."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.history = History(cfg)
        self.replicas = {name: 0 for name in cfg.pools}

    def tick(self, now: float, **lag: int) -> ScaleDecision:
        obs = observe(**{p: (lag.get(p, 0), 0, self.replicas[p]) for p in self.cfg.pools})
        (decision,) = self.step(obs, now)
        return decision

    def step(self, obs: Observations, now: float) -> list[ScaleDecision]:
        decisions = decide(self.cfg, obs, history=self.history, now=now)
        self.history.record_tick(decisions, obs, now)
        for d in decisions:
            if d.changes:
                self.history.record_scale(d.pool, now, d.current, d.desired)
                self.replicas[d.pool] = d.desired
        return decisions


def one_pool(**fields: Any) -> Loop:
    return Loop(config({"a": pool("t", max_replicas=50, behavior=BEHAVIOR, **fields)}))


def test_scale_from_zero_is_not_delayed_by_the_up_window() -> None:
    loop = one_pool()
    assert loop.tick(0.0).desired == 0
    first = loop.tick(1.0, a=4)
    assert first.desired == 4


def test_up_stabilization_takes_the_lowest_recent_recommendation() -> None:
    loop = one_pool(cooldown_seconds=0)
    assert loop.tick(0.0, a=2).desired == 2
    assert loop.tick(10.0, a=3).desired == 2
    d = loop.tick(20.0, a=9)
    assert d.desired == 2
    assert d.main_reason.rule == "stabilization"
    assert "lowest recommendation in the last 30 s is 2: 9 -> 2" in d.main_reason.detail
    assert loop.tick(31.0, a=9).desired == 3  # the 2 left the window; the 3 is still in it
    assert loop.tick(41.0, a=9).desired == 9


def test_the_up_rate_policy_adds_at_most_max_pods_per_period() -> None:
    loop = one_pool()
    assert loop.tick(0.0, a=8).desired == 8  # 0 -> 8
    d = loop.tick(31.0, a=40)
    assert d.desired == 10  # only 2 more of the 10 allowed in 60 s
    assert d.main_reason.rule == "rate limit"
    assert "at most 10 pods added per 60 s (8 already)" in d.main_reason.detail
    assert loop.tick(32.0, a=40).desired == 10
    assert loop.tick(61.0, a=40).desired == 18  # the first 8 left the 60 s period


def test_down_stabilization_holds_the_highest_recent_recommendation() -> None:
    loop = one_pool(cooldown_seconds=0)
    loop.tick(0.0, a=6)
    d = loop.tick(10.0, a=2)
    assert d.desired == 6
    assert "highest recommendation in the last 300 s is 6" in d.main_reason.detail
    assert loop.tick(301.0, a=2).desired == 2


def test_the_down_rate_policy_removes_at_most_max_pods_per_period() -> None:
    loop = one_pool(cooldown_seconds=0)
    loop.tick(0.0, a=20)
    loop.tick(61.0, a=20)
    assert loop.replicas["a"] == 20
    d = loop.tick(400.0, a=1)
    assert d.desired == 15
    assert "at most 5 pods removed per 120 s" in d.main_reason.detail
    assert loop.tick(450.0, a=1).desired == 15
    assert loop.tick(521.0, a=1).desired == 10


def test_cooldown_keeps_one_replica_until_idle_long_enough() -> None:
    loop = Loop(
        config(
            {
                "a": pool(
                    "t",
                    cooldown_seconds=60,
                    behavior={
                        "scale_down": {
                            "stabilization_seconds": 0,
                            "max_pods": 5,
                            "period_seconds": 1,
                        }
                    },
                )
            }
        )
    )
    loop.tick(0.0, a=3)
    d = loop.tick(10.0)
    assert d.desired == 1
    assert d.main_reason.rule == "cooldown"
    assert "idle 10 s of cooldown 60 s" in d.main_reason.detail
    assert loop.tick(59.0).desired == 1
    assert loop.tick(60.0).desired == 0


def test_a_burst_rises_within_limits_and_returns_to_zero_after_cooldown() -> None:
    loop = one_pool(cooldown_seconds=300)
    seen = []
    lag = 100
    for now in range(0, 2400, 5):
        d = loop.tick(float(now), a=lag if now < 200 else 0)
        seen.append(d.desired)
    assert max(seen) == 40  # 10 pods a minute, from the very first tick: 200 s of burst
    assert seen[-1] == 0
    steps = list(itertools.pairwise(seen))
    assert all(b - a <= 10 for a, b in steps)
    assert all(a - b <= 5 for a, b in steps)
    # idle from t=200; nothing reaches zero before the 300 s cooldown has passed
    assert all(d > 0 for d in seen[: 500 // 5])
