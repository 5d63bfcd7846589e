"""A pool's STATE on the dashboard: a short label of its kind and one sentence saying why,
read from the decision's binding rule (controller.core.pool_state). An injected `now`, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from controller.core.history import History
from controller.core.model import (
    Observations,
    Overrides,
    Pin,
    PoolObservation,
    PoolPause,
    Reason,
    ScaleDecision,
)
from controller.core.policy import decide
from controller.core.pool_state import state_of, what_next
from tests.support.factories import config, observe, pool
from tests.support.records import replaced

NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
STILL = {"scale_up": {"stabilization_seconds": 0}, "scale_down": {"stabilization_seconds": 0}}


def state(
    cfg: Any,
    obs: Observations,
    overrides: Overrides | None = None,
    history: History | None = None,
    pool_name: str = "a",
    dry_run: bool = False,
) -> tuple[str, str]:
    overrides = overrides or Overrides()
    decisions = {d.pool: d for d in decide(cfg, obs, overrides, history, NOW)}
    found = state_of(obs.pools.get(pool_name), decisions[pool_name], overrides, NOW,
                     dry_run=dry_run)  # fmt: skip
    assert len(found[0]) <= 14, found  # it fits the STATE column
    return found


def test_a_pool_at_zero_with_lag_that_the_cluster_cap_starves_says_starved_not_idle() -> None:
    cfg = config(
        {"a": pool("low"), "top": pool("high")},
        {"low": {"tier": "starter"}, "high": {"tier": "enterprise"}},
        max_pods=2,
    )
    # Both of the higher tier's pods at work: no running task is cut short, so the lower
    # tier's first replica waits for one of them (an idle one would be its at once).
    obs = observe(a=(40, 0, 0), top=(10, 2, 2))
    label, detail = state(cfg, obs)
    assert label == "starved"
    assert detail.startswith("starved: cluster max_pods 2 all in use")
    assert detail.endswith("(wants 10, gets 0, lag 40)")


def test_a_tenant_cap_names_the_tenant() -> None:
    cfg = config({"a": pool("acme"), "b": pool("acme")}, {"acme": {"tier": "growth",
                                                                   "max_pods": 3}})  # fmt: skip
    label, detail = state(cfg, observe(a=(5, 0, 0), b=(3, 0, 3)))
    assert (label, detail.split(" all in use")[0]) == ("starved", "starved: tenant acme max_pods 3")


def test_a_pool_held_by_the_down_window_counts_down_what_is_left() -> None:
    cfg = config({"a": pool("t", cooldown_seconds=0, behavior={
        "scale_down": {"stabilization_seconds": 300}})})  # fmt: skip
    history = History(cfg)
    history.record_pool("a", 5, 5, NOW - 10)
    label, detail = state(cfg, observe(a=(0, 0, 5)), history=history)
    assert label == "held 5m"
    assert detail == (
        "held by the scale-down stabilization window for 5 min more (recommendation 0, "
        "replicas 5): highest recommendation in the last 300 s is 5: 0 -> 5"
    )


def test_a_pool_held_by_the_rate_policy_or_the_cooldown_says_which() -> None:
    slow = {**STILL, "scale_down": {"stabilization_seconds": 0, "max_pods": 1,
                                    "period_seconds": 60}}  # fmt: skip
    cfg = config({"a": pool("t", cooldown_seconds=0, behavior=slow)})
    history = History(cfg)
    history.record_scale("a", NOW - 10, 6, 5)
    label, detail = state(cfg, observe(a=(0, 0, 5)), history=history)
    assert label == "held 50s"
    assert detail.startswith("held by the scale-down rate policy for 50 s more")

    cfg = config({"a": pool("t", cooldown_seconds=60, behavior=STILL)})
    history = History(cfg)
    history.record_pool("a", 1, 3, NOW - 20)  # last busy 20 s ago
    label, detail = state(cfg, observe(a=(0, 0, 1)), history=history)
    assert label == "held 40s"
    assert detail.startswith("held by the cooldown before zero for 40 s more")


def test_paused_says_who_paused_it_the_pool_its_tenant_or_the_controller() -> None:
    cfg = config({"a": pool("acme"), "b": pool("globex")})
    obs = observe(a=(9, 0, 2), b=(0, 0, 0))
    pool_pause = Overrides(paused_pools={"a": PoolPause(None, NOW + 120, "alice", NOW)})
    assert state(cfg, obs, pool_pause) == (
        "paused 2m",
        "pool paused by alice until 2026-01-01 00:02:00 UTC: holding 2 replicas (2 min left)",
    )
    tenant = Overrides(paused_tenants=frozenset({"acme"}))
    assert state(cfg, obs, tenant) == (
        "paused",
        "tenant acme paused by an operator: 0 replicas, lag 9 stays queued",
    )
    controller = Overrides(paused=True)
    assert state(cfg, obs, controller) == (
        "paused",
        "controller paused by an operator: holding 2 replicas (would scale 2 -> 9)",
    )
    assert state(cfg, obs, controller, pool_name="b")[0] == "paused"  # fmt: skip


def test_a_pin_that_binds_shows_its_time_left() -> None:
    cfg = config({"a": pool("t")})
    pins = Overrides(pins={"a": Pin(3, NOW + 240, "alice")})
    assert state(cfg, observe(a=(0, 0, 3)), pins) == (
        "pinned 4m",
        "pinned warm at 3 by alice until 2026-01-01 00:04:00 UTC: 0 -> 3 (4 min left)",
    )
    forever = Overrides(pins={"a": Pin(3, None, "alice")})
    assert state(cfg, observe(a=(0, 0, 3)), forever)[0] == "pinned"
    label, detail = state(cfg, observe(a=(5, 0, 3)), pins)  # demand beyond the pin
    assert (label, detail.split("; ")[-1]) == ("scaling up", "pinned at 3 for 4 min more")


def test_stale_budget_dry_run_and_plain_states_say_why() -> None:
    cfg = config({"a": pool("t", behavior=STILL)},
                 {"t": {"tier": "growth", "daily_token_budget": 1000}})  # fmt: skip
    stale = Observations(
        {
            "a": PoolObservation(
                pending=4, ack_pending=0, replicas=3, ready=3, stale="NATS disconnected"
            )
        }
    )
    assert state(cfg, stale) == ("stale", "stale: NATS disconnected: holding 3 replicas")
    spent = observe(tokens={"t": 1000}, a=(4, 0, 2))
    label, detail = state(cfg, spent)
    assert (label, detail[:34]) == ("budget", "tenant t used 1,000 of 1,000 token")
    label, detail = state(cfg, observe(a=(4, 0, 0)), dry_run=True)
    assert label == "dry-run 0→4"
    assert detail == (
        "dry-run: would scale 0 -> 4 (demand: lag 4 (pending 4 + ack_pending 0) / 1 per "
        "replica -> 4)"
    )
    assert state(cfg, observe(a=(4, 0, 0)))[0] == "scaling up"
    assert state(cfg, observe(a=(1, 0, 3)))[0] == "scaling down"
    assert state(cfg, observe(a=(3, 0, 3))) == (
        "steady", "steady at 3 replicas: demand: lag 3 (pending 3 + ack_pending 0) / 1 per "
        "replica -> 3")  # fmt: skip
    assert state(cfg, observe(a=(0, 0, 0)))[0] == "idle"


def test_one_replica_is_said_in_the_singular() -> None:
    # The demo's Fleet pane said "steady at 1 replicas".
    cfg = config({"a": pool("t", behavior=STILL)}, {"t": {"tier": "growth"}})
    assert state(cfg, observe(a=(1, 0, 1))) == (
        "steady", "steady at 1 replica: demand: lag 1 (pending 1 + ack_pending 0) / 1 per "
        "replica -> 1")  # fmt: skip


@pytest.mark.parametrize("decided", [False, True])
def test_a_pool_never_seen_is_unknown(decided: bool) -> None:
    cfg = config({"a": pool("t")})
    nothing = Observations({}, unobserved={"a": "Deployment agents/a not found"})
    (decision,) = decide(cfg, nothing)
    label, detail = state_of(None, decision if decided else None, Overrides(), NOW)
    assert label == "unknown"
    assert ("Deployment agents/a not found" in detail) == decided


def test_a_paused_pool_says_paused_with_stale_data_and_stale_shows_through_a_pause() -> None:
    cfg = config({"a": pool("t")})
    stale = Observations(
        {
            "a": PoolObservation(
                pending=4, ack_pending=0, replicas=3, ready=3, stale="NATS disconnected"
            )
        }
    )
    pause = Overrides(paused_pools={"a": PoolPause(1, None, "alice", NOW)})
    assert state(cfg, stale, pause) == ("paused", "pool paused by alice: set to 1, 3 -> 1")
    assert state(cfg, stale, Overrides(paused=True)) == (
        "stale",
        "stale: NATS disconnected: holding 3 replicas",
    )


def test_a_pool_at_its_own_max_replicas_with_more_waiting_says_capped_not_steady() -> None:
    cfg = config({"a": pool("t", max_replicas=6, behavior=STILL)})
    label, detail = state(cfg, observe(a=(44, 12, 6)))
    assert label == "capped"
    assert detail == "capped at its max_replicas 6: wants 56, lag 56 waits on 6 replicas"
    label, _ = state(cfg, observe(a=(3, 3, 6)))  # a demand the 6 replicas meet
    assert label == "steady"


def test_what_comes_next_names_when_a_hold_ends_and_where_the_pool_goes() -> None:
    cfg = config({"a": pool("t", cooldown_seconds=0, behavior={
        "scale_down": {"stabilization_seconds": 300}})})  # fmt: skip
    history = History(cfg)
    history.record_pool("a", 5, 5, NOW - 10)
    obs = observe(a=(1, 0, 5))
    decision = decide(cfg, obs, Overrides(), history, NOW)[0]
    assert what_next(decision, Overrides(), NOW) == (
        "stabilization ends 00:04:50 UTC (in 5 min) -> 1"
    )


def test_what_comes_next_after_a_held_rise_is_at_most_its_recommendation() -> None:
    # In the demo, globex-coder held at 5 by its scale-up rate policy promised
    # "rate limit ends ... -> 8", and stayed at 5 when it ended: its tenant's max_pods was
    # full. The shared ceilings may give a rise less; the words say so.
    up = {**STILL, "scale_up": {"stabilization_seconds": 0, "max_pods": 1, "period_seconds": 60}}
    cfg = config({"a": pool("t", behavior=up), "b": pool("t", behavior=STILL)},
                 {"t": {"tier": "growth", "max_pods": 10}})  # fmt: skip
    history = History(cfg)
    history.record_scale("a", NOW - 10, 4, 5)
    obs = observe(a=(8, 0, 5), b=(5, 0, 5))
    decision = decide(cfg, obs, Overrides(), history, NOW)[0]
    assert (decision.current, decision.desired, decision.recommendation) == (5, 5, 8)
    assert what_next(decision, Overrides(), NOW) == (
        "rate limit ends 00:00:50 UTC (in 50 s) -> up to 8"
    )


def test_what_comes_next_after_a_pin_or_a_pause_with_an_end() -> None:
    cfg = config({"a": pool("t", behavior=STILL)})
    obs = observe(a=(2, 0, 2))
    pinned = Overrides(pins={"a": Pin(5, NOW + 240, "ops")})
    decision = decide(cfg, obs, pinned, None, NOW)[0]
    assert what_next(decision, pinned, NOW) == "pin ends 00:04:00 UTC (in 4 min) -> back to 2"
    paused = Overrides(paused_pools={"a": PoolPause(None, NOW + 60, "ops", NOW)})
    decision = decide(cfg, obs, paused, None, NOW)[0]
    assert what_next(decision, paused, NOW) == (
        "pause ends 00:01:00 UTC (in 60 s) -> its queue scales it again"
    )
    unpinned = decide(cfg, obs, Overrides(), None, NOW)[0]
    assert what_next(unpinned, Overrides(), NOW) == ""  # nothing ends by itself


def as_a_follower_reads_it(decision: ScaleDecision) -> ScaleDecision:
    """The leader's decision as it reaches a following dashboard: each reason its rule and
    its text, no numbers apart (controller.coordination.leader_decisions)."""
    reasons = tuple(Reason(rule=r.rule, template=r.detail) for r in decision.reasons)
    return replaced(decision, reasons=reasons)


def test_a_follower_reads_capped_and_a_pins_end_from_the_leaders_text_alone() -> None:
    cfg = config({"a": pool("t", max_replicas=6, behavior=STILL)})
    obs = observe(a=(44, 12, 6))
    pinned = Overrides(pins={"a": Pin(5, NOW + 240, "ops")})
    for overrides in (Overrides(), pinned):
        leader = decide(cfg, obs, overrides, None, NOW)[0]
        follower = as_a_follower_reads_it(leader)
        seen = obs.pools["a"]
        assert state_of(seen, follower, overrides, NOW) == state_of(seen, leader, overrides, NOW)
    quiet = observe(a=(2, 0, 2))
    leader = decide(cfg, quiet, pinned, None, NOW)[0]
    assert what_next(as_a_follower_reads_it(leader), pinned, NOW) == (
        "pin ends 00:04:00 UTC (in 4 min) -> back to 2"
    )


def test_a_pool_held_until_its_first_task_reports_says_pricing_not_budget() -> None:
    """A hard cap with no price for the pool's tasks yet holds it at one replica: the tenant
    has spent almost nothing, and `budget` read as if it were over."""
    cfg = config({"a": pool("t", behavior=STILL)},
                 {"t": {"tier": "growth", "daily_token_budget": 1_000_000}})  # fmt: skip
    reported = Observations(  # tokens from the workers' reports: none of this pool's yet
        pools={"a": PoolObservation(pending=20, ack_pending=0, replicas=1, ready=1)},
        tokens_today={"t": 10},
        tasks_today={"t": 0},
    )
    label, detail = state(cfg, reported)
    assert label == "pricing"
    assert detail.startswith("hard cap, and no task of this pool reported yet")
    said = ScaleDecision(  # as a follower is told it: the rule and the words
        pool="a", tenant="t", current=1, desired=1, recommendation=1,
        reasons=(Reason(rule="budget warning", template=detail),),
    )  # fmt: skip
    obs = PoolObservation(pending=20, ack_pending=0, replicas=1, ready=1)
    assert state_of(obs, said, Overrides(), NOW)[0] == "pricing"


def test_a_follower_stale_under_the_leaders_fresh_decision_says_why_its_data_is_stale() -> None:
    """NATS down on a following dashboard: its reading is stale, the decision shown is the
    leader's last, made on fresh data; STATE said `stale: ` and the decision's budget reason."""
    cfg = config({"a": pool("t", behavior=STILL)},
                 {"t": {"tier": "growth", "daily_token_budget": 1000}})  # fmt: skip
    (leaders,) = decide(cfg, observe(tokens={"t": 1000}, a=(4, 0, 2)), Overrides(), None, NOW)
    assert leaders.main_reason.rule != "stale"
    mine = PoolObservation(pending=4, ack_pending=0, replicas=2, ready=2, stale="NATS unreachable")
    assert state_of(mine, leaders, Overrides(), NOW) == ("stale", "stale: NATS unreachable")
