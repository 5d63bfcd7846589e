"""The time rules (cooldown, stabilization, rate policies), driven by an injected clock."""

from __future__ import annotations

import itertools
from typing import Any

from controller.core.history import SETTLE_S, PoolHistory
from controller.core.keepalive import KeepAlive
from controller.core.time_rules import Timed, time_rules
from tests.support.factories import config, pool
from tests.support.loops import Loop

BEHAVIOR = {
    "scale_up": {"stabilization_seconds": 30, "max_pods": 10, "period_seconds": 60},
    "scale_down": {"stabilization_seconds": 300, "max_pods": 5, "period_seconds": 120},
}


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
    assert "scale-up policy 10 pods / 60 s: at most 10 now, 40 -> 10" in d.main_reason.detail
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
    assert "scale-down policy 5 pods / 120 s: at least 15 now" in d.main_reason.detail
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
    said = "idle since 00:00:00 UTC (cooldown 60 s, to zero at 00:01:00 UTC): keep 1"
    assert d.main_reason.detail == said
    later = loop.tick(59.0)
    assert later.desired == 1
    assert later.main_reason.detail == said  # still true 49 s on
    assert loop.tick(60.0).desired == 0


def test_a_burst_rises_within_limits_and_returns_to_zero_after_cooldown() -> None:
    loop = one_pool(cooldown_seconds=300)
    seen = []
    lag = 100
    for now in range(0, 2400, 5):
        d = loop.tick(float(now), a=lag if now < 200 else 0)
        seen.append(d.desired)
    assert seen[0] == 50  # woken from zero: straight to its demand (max_replicas)
    assert seen[-1] == 0
    steps = list(itertools.pairwise(seen))
    assert all(a - b <= 5 for a, b in steps)
    # idle from t=200; nothing reaches zero before the 300 s cooldown has passed
    assert all(d > 0 for d in seen[: 500 // 5])


def hpa_pool(**behavior: Any) -> Loop:
    return Loop(config({"a": pool("t", max_replicas=200, cooldown_seconds=0, behavior=behavior)}))


def test_a_scale_up_set_as_the_hpas_is_the_larger_of_4_pods_and_100_percent_per_15_s() -> None:
    loop = hpa_pool(scaleUp={"stabilizationWindowSeconds": 0})  # its policies: the HPA's own
    assert loop.tick(0.0, a=1).desired == 1
    seen = [loop.tick(float(t), a=150).desired for t in range(16, 100, 15)]
    assert seen == [5, 10, 20, 40, 80, 150]


def test_hpa_docs_example_scale_down_by_4_pods_or_10_percent_whichever_is_more() -> None:
    # kubernetes.io, "Horizontal Pod Autoscaling", Scaling policies: with 80 replicas the
    # first step removes 8 (10%); at 72 the next removes 8 again (72 x 0.9 = 64.8 -> 64).
    down = {
        "stabilization_seconds": 0,
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 60},
            {"type": "Percent", "value": 10, "periodSeconds": 60},
        ],
    }
    loop = hpa_pool(scaleDown=down)
    loop.tick(0.0, a=80)
    assert [loop.tick(t, a=10).desired for t in (100.0, 130.0, 161.0, 222.0)] == [72, 72, 64, 57]


def test_select_policy_min_takes_the_policy_allowing_the_smallest_change() -> None:
    down = {
        "stabilization_seconds": 0,
        "selectPolicy": "Min",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 60},
            {"type": "Percent", "value": 10, "periodSeconds": 60},
        ],
    }
    loop = hpa_pool(scaleDown=down)
    loop.tick(0.0, a=80)
    assert loop.tick(100.0, a=10).desired == 76


def test_select_policy_disabled_never_scales_that_way() -> None:
    loop = hpa_pool(scaleDown={"stabilization_seconds": 0, "selectPolicy": "Disabled"})
    loop.tick(0.0, a=20)
    d = loop.tick(500.0, a=0)
    assert d.desired == 20
    assert d.main_reason.rule == "rate limit"


def test_a_recommendation_within_the_tolerance_keeps_the_replicas() -> None:
    loop = hpa_pool(scale_down={"stabilization_seconds": 0, "tolerance": 0.1})
    loop.tick(0.0, a=20)
    d = loop.tick(10.0, a=19)
    assert (d.desired, d.main_reason.rule) == (20, "tolerance")
    assert loop.tick(20.0, a=17).desired == 17


def learned_pool() -> Loop:
    """One pool on the default behavior (it learns its keep-alive), 2 tasks a replica."""
    return Loop(config({"a": pool("t", max_replicas=100, target_lag_per_replica=2)}))


def test_a_decline_within_the_tolerance_settles_after_a_window_below() -> None:
    loop = learned_pool()
    for t in range(0, 610, 10):
        assert loop.tick(float(t), a=100).desired == 50
    # 42 replicas' worth of lag is within the 25% tolerance of 50: noise, until it has lasted
    # a whole window (SETTLE_S, 300 s) from the last time 50 were asked for (600 s).
    for t in range(610, 900, 10):
        d = loop.tick(float(t), a=84)
        assert d.desired == 50
    assert d.main_reason.rule == "tolerance"
    assert d.until == 600.0 + SETTLE_S
    d = loop.tick(910.0, a=84)
    # The highest recommendation of the window, 42, landed on half the noise above it: 45.
    assert (d.desired, d.main_reason.rule) == (45, "stabilization")
    assert "below its replicas for 300 s, at most 45 (within the tolerance): 50 -> 45" in (
        d.main_reason.detail
    )


def test_replicas_found_running_are_not_settled_before_a_window_is_watched() -> None:
    spec = config({"a": pool("t", max_replicas=100, target_lag_per_replica=2)}).pools["a"]
    past = PoolHistory(keep=KeepAlive.for_pool(spec), down_window=SETTLE_S)
    past.recommend(0.0, 42)  # a new process finds 50 running and is asked for 42
    for now in (100.0, 299.0):
        held = time_rules(spec, past, 50, 42, now, [], top=45)
        assert held == Timed(replicas=50, until=SETTLE_S)
    assert time_rules(spec, past, 50, 42, 301.0, [], top=45).replicas == 45
