"""The policy, rule by rule and in combination, as an operator would read its decisions."""

from __future__ import annotations

from controller.core.model import Observations, Overrides, Pin, PoolObservation, ScaleDecision
from controller.core.policy import decide
from tests.support.factories import config, observe, pool


def by_pool(decisions: list[ScaleDecision]) -> dict[str, ScaleDecision]:
    return {d.pool: d for d in decisions}


def rules(decision: ScaleDecision) -> list[str]:
    return [r.rule for r in decision.reasons]


# 1-2: lag and demand


def test_demand_is_lag_over_target_rounded_up() -> None:
    cfg = config({"a": pool("t", target_lag_per_replica=3, max_replicas=20)})
    (d,) = decide(cfg, observe(a=(40, 5, 2)))
    assert (d.current, d.desired) == (2, 15)
    assert d.main_reason.rule == "demand"
    assert "lag 45 (pending 40 + ack_pending 5)" in d.main_reason.detail


def test_from_zero_a_pool_wakes_only_above_activation_lag() -> None:
    cfg = config({"a": pool("t", activation_lag=2)})
    (quiet,) = decide(cfg, observe(a=(2, 0, 0)))
    assert quiet.desired == 0
    assert "activation_lag 2" in quiet.main_reason.detail
    (woken,) = decide(cfg, observe(a=(3, 0, 0)))
    assert woken.desired == 3


def test_activation_lag_does_not_apply_once_awake() -> None:
    cfg = config({"a": pool("t", activation_lag=5)})
    (d,) = decide(cfg, observe(a=(2, 0, 1)))
    assert d.desired == 2


def test_a_steady_stream_is_served_before_a_backlog_builds() -> None:
    cfg = config({"a": pool("t", target_lag_per_replica=5, concurrency=2, cold_start_seconds=0)})
    obs = Observations(
        {
            "a": PoolObservation(
                pending=2,
                ack_pending=3,
                replicas=1,
                ready=1,
                arrival_rate=1.5,
                mean_task_seconds=8.0,
            )
        }
    )
    (d,) = decide(cfg, obs)
    # lag 5 / 5 = 1, but 1.5 tasks/s x 8 s = 12 tasks in the system (Little's law), at the
    # same 5 per replica: 3
    assert d.desired == 3
    assert d.main_reason.rule == "arrival"


# 3: floors, pins and pauses


def test_min_replicas_is_a_floor() -> None:
    cfg = config({"a": pool("t", min_replicas=2)})
    (d,) = decide(cfg, observe(a=(0, 0, 2)))
    assert d.desired == 2
    assert d.main_reason.rule == "min_replicas"


def test_a_pin_keeps_a_warm_pool_until_it_expires() -> None:
    cfg = config({"a": pool("t")})
    pinned = Overrides(pins={"a": Pin(3, until=100.0, by="alice")})
    (d,) = decide(cfg, observe(a=(0, 0, 0)), pinned, now=99.0)
    assert d.desired == 3
    assert d.main_reason.rule == "pin"
    assert "by alice" in d.main_reason.detail
    (expired,) = decide(cfg, observe(a=(0, 0, 3)), pinned, now=100.0)
    assert expired.desired == 0


def test_a_paused_tenant_gets_zero_even_when_pinned_and_its_queue_stays() -> None:
    cfg = config({"a": pool("t", min_replicas=1), "b": pool("u")})
    paused = Overrides(pins={"a": Pin(4)}, paused_tenants=frozenset({"t"}))
    decisions = by_pool(decide(cfg, observe(a=(30, 2, 3), b=(4, 0, 1)), paused))
    assert decisions["a"].desired == 0
    assert decisions["a"].main_reason.rule == "paused"
    assert "lag 32 stays queued" in decisions["a"].main_reason.detail
    assert decisions["b"].desired == 4


# 4: budgets


def test_an_exhausted_hard_cap_scales_to_zero_despite_a_pin() -> None:
    cfg = config(
        {"a": pool("t")}, {"t": {"tier": "growth", "daily_token_budget": 1000, "hard_cap": True}}
    )
    pinned = Overrides(pins={"a": Pin(2)})
    (d,) = decide(cfg, observe({"t": 1000}, a=(9, 0, 3)), pinned)
    assert d.desired == 0
    assert d.main_reason.rule == "budget exhausted"


def test_a_pin_above_the_hold_on_an_unpriced_pool_says_why_the_pool_gets_it() -> None:
    """Under a hard cap, a pool none of whose tasks has reported grows to one replica; a pin
    of 4 still gives it 4, and the reasons must say so: they read `15 -> 1` while the pool
    went 0 -> 4 (found on the dashboard and in the daemon's log)."""
    cfg = config(
        {"a": pool("t", max_replicas=20, min_replicas=2)},
        {"t": {"tier": "growth", "daily_token_budget": 100_000, "hard_cap": True}},
    )
    obs = observe({"t": 1000}, a=(15, 0, 0))
    obs.tasks_today["t"] = 1
    (d,) = decide(cfg, obs, Overrides(pins={"a": Pin(4, by="root")}))
    assert d.desired == 4
    assert [r.rule for r in d.reasons] == ["demand", "budget warning", "pin"]
    assert d.reasons[-1].detail == "pinned warm at 4 by root: 1 -> 4"
    (floor,) = decide(cfg, obs)
    assert floor.desired == 2
    assert floor.reasons[-1].detail == "min_replicas 2: 1 -> 2"


def test_past_the_warning_line_a_pool_does_not_grow_but_keeps_what_it_has() -> None:
    cfg = config({"a": pool("t")}, {"t": {"tier": "growth", "daily_token_budget": 1000}})
    (d,) = decide(cfg, observe({"t": 800}, a=(9, 0, 3)))
    assert d.desired == 3
    assert d.main_reason.rule == "budget warning"
    (below,) = decide(cfg, observe({"t": 799}, a=(9, 0, 3)))
    assert below.desired == 9


def test_past_the_warning_line_a_pool_at_zero_with_tasks_keeps_one_replica() -> None:
    cfg = config({"a": pool("t")}, {"t": {"tier": "growth", "daily_token_budget": 1000}})
    (d,) = decide(cfg, observe({"t": 850}, a=(9, 0, 0)))
    assert d.desired == 1  # not stranded until midnight with 15% of the budget left
    assert "no growth beyond 1" in d.main_reason.detail
    (idle,) = decide(cfg, observe({"t": 850}, a=(0, 0, 0)))
    assert idle.desired == 0


def test_a_spent_soft_cap_keeps_only_what_the_operator_keeps_warm() -> None:
    cfg = config(
        {"a": pool("t", min_replicas=1)},
        {"t": {"tier": "growth", "daily_token_budget": 1000, "hard_cap": False}},
    )
    (d,) = decide(cfg, observe({"t": 5000}, a=(9, 0, 3)))
    assert d.desired == 1
    assert d.main_reason.rule == "budget spent"
    assert "lag 9 stays queued" in d.main_reason.detail
    (pinned,) = decide(cfg, observe({"t": 5000}, a=(9, 0, 3)), Overrides(pins={"a": Pin(2)}))
    assert pinned.desired == 2  # unlike a hard cap, a pin still holds


def test_the_warning_still_lets_a_pin_be_honoured() -> None:
    cfg = config({"a": pool("t")}, {"t": {"tier": "growth", "daily_token_budget": 1000}})
    (d,) = decide(cfg, observe({"t": 900}, a=(9, 0, 0)), Overrides(pins={"a": Pin(2)}))
    assert d.desired == 2


def test_unknown_usage_does_not_restrict() -> None:
    cfg = config({"a": pool("t")}, {"t": {"tier": "growth", "daily_token_budget": 1000}})
    (d,) = decide(cfg, observe(a=(9, 0, 3)))
    assert d.desired == 9


# 5: ceilings


def test_max_replicas_caps_demand_and_says_so() -> None:
    cfg = config({"a": pool("t", max_replicas=4)})
    (d,) = decide(cfg, observe(a=(50, 0, 1)))
    assert d.desired == 4
    assert d.main_reason.detail == "max_replicas 4: 50 -> 4"


def test_the_cluster_serves_higher_tiers_first() -> None:
    cfg = config(
        {"gold": pool("g"), "bronze": pool("b")},
        {"g": {"tier": "enterprise"}, "b": {"tier": "starter"}},
        max_pods=10,
    )
    decisions = by_pool(decide(cfg, observe(gold=(8, 0, 0), bronze=(8, 0, 0))))
    assert decisions["gold"].desired == 8
    assert decisions["bronze"].desired == 2
    assert decisions["bronze"].main_reason.rule == "cluster max_pods"
    assert "starter here" in decisions["bronze"].main_reason.detail


def test_every_floor_is_served_before_any_higher_tier_demand() -> None:
    cfg = config(
        {"gold": pool("g"), "bronze": pool("b", min_replicas=3)},
        {"g": {"tier": "enterprise"}, "b": {"tier": "starter"}},
        max_pods=10,
    )
    decisions = by_pool(decide(cfg, observe(gold=(20, 0, 5), bronze=(9, 0, 3))))
    assert decisions["bronze"].desired == 3
    assert decisions["gold"].desired == 7


def test_a_tier_shares_a_short_ceiling_fairly_leftovers_to_the_larger_demand() -> None:
    cfg = config(
        {"x": pool("t"), "y": pool("t"), "z": pool("t")},
        {"t": {"tier": "growth", "max_pods": 10}},
    )
    decisions = by_pool(decide(cfg, observe(x=(2, 0, 0), y=(9, 0, 0), z=(8, 0, 0))))
    # x is met (2); 8 left for y and z: 4 each
    assert [decisions[p].desired for p in "xyz"] == [2, 4, 4]
    assert decisions["y"].main_reason.rule == "tenant max_pods"

    decisions = by_pool(decide(cfg, observe(x=(2, 0, 0), y=(9, 0, 0), z=(6, 0, 0))))
    assert [decisions[p].desired for p in "xyz"] == [2, 4, 4]
    odd = config(
        {"x": pool("t"), "y": pool("t"), "z": pool("t")},
        {"t": {"tier": "growth", "max_pods": 9}},
    )
    decisions = by_pool(decide(odd, observe(x=(2, 0, 0), y=(9, 0, 0), z=(6, 0, 0))))
    # 7 left: 3 each, the leftover unit goes to y, whose unmet demand is larger
    assert [decisions[p].desired for p in "xyz"] == [2, 4, 3]


def test_equal_demands_break_ties_by_pool_name() -> None:
    cfg = config({"b": pool("t"), "a": pool("t")}, {"t": {"tier": "growth", "max_pods": 5}})
    decisions = by_pool(decide(cfg, observe(a=(9, 0, 0), b=(9, 0, 0))))
    assert (decisions["a"].desired, decisions["b"].desired) == (3, 2)


def test_a_provider_rpm_is_shared_across_tenants_by_tier_weight() -> None:
    cfg = config(
        {
            "gold": pool("g", provider="openai", rpm_per_replica=50),
            "silver": pool("s", provider="openai", rpm_per_replica=30),
            "local": pool("s"),
        },
        {"g": {"tier": "enterprise"}, "s": {"tier": "growth"}},
        providers={"openai": {"rpm": 600, "headroom": 1}},
    )
    decisions = by_pool(decide(cfg, observe(gold=(10, 0, 0), silver=(10, 0, 0), local=(7, 0, 0))))
    # enterprise weighs 4, growth 2 (each tier twice the one below): gold rises two replicas
    # for each of silver's, until the 600 rpm are used (9 x 50 + 5 x 30); local draws none
    assert decisions["gold"].desired == 9
    assert decisions["silver"].desired == 5
    assert decisions["local"].desired == 7
    assert "shared by tier weight (growth here, weight 2)" in decisions["silver"].main_reason.detail
    assert decisions["silver"].main_reason.rule == "provider rpm"
    assert "30 rpm a replica" in decisions["silver"].main_reason.detail
    assert decisions["local"].desired == 7  # calls no provider


def test_tenant_max_pods_caps_the_sum_of_its_pools() -> None:
    cfg = config({"a": pool("t"), "b": pool("t")}, {"t": {"tier": "growth", "max_pods": 6}})
    decisions = by_pool(decide(cfg, observe(a=(5, 0, 0), b=(5, 0, 0))))
    assert decisions["a"].desired + decisions["b"].desired == 6


# Missing data never scales down


def test_a_pool_without_observation_is_left_unchanged() -> None:
    cfg = config({"a": pool("t"), "b": pool("t")})
    decisions = by_pool(decide(cfg, observe(a=(3, 0, 1))))
    assert decisions["b"].held
    assert not decisions["b"].changes
    assert decisions["b"].as_dict()["desired"] is None
    assert decisions["b"].main_reason.rule == "no observation"
    assert decisions["a"].desired == 3


def test_a_stale_pool_holds_its_replicas_and_they_count_against_ceilings() -> None:
    cfg = config({"a": pool("t"), "b": pool("t")}, max_pods=10)
    obs = Observations(
        {
            "a": PoolObservation(
                pending=0, ack_pending=0, replicas=6, ready=6, stale="NATS unreachable"
            ),
            "b": PoolObservation(pending=9, ack_pending=0, replicas=0),
        }
    )
    decisions = by_pool(decide(cfg, obs))
    assert decisions["a"].desired == 6
    assert decisions["a"].main_reason.detail == "NATS unreachable: holding 6 replicas"
    assert decisions["b"].desired == 4


def test_decisions_come_in_config_order() -> None:
    cfg = config({"zeta": pool("t"), "alpha": pool("t"), "mid": pool("t")})
    decisions = decide(cfg, observe(zeta=(1, 0, 0), alpha=(1, 0, 0), mid=(1, 0, 0)))
    assert [d.pool for d in decisions] == ["zeta", "alpha", "mid"]
