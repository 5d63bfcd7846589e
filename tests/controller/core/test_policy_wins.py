"""The rules that make the default policy win on unseen traffic, one test each."""

from __future__ import annotations

import pytest

from controller.core.accounting import task_time
from controller.core.config import Config
from controller.core.history import History
from controller.core.model import Observations, PoolObservation, ScaleDecision
from controller.core.policy import decide
from tests.support.factories import TIERS, config, pool, spending
from tests.support.records import replaced


def tick(
    cfg: Config, history: History, now: float, **pools: PoolObservation
) -> dict[str, ScaleDecision]:
    obs = Observations({name.replace("_", "-"): o for name, o in pools.items()})
    decisions = decide(cfg, obs, history=history, now=now)
    history.record_tick(decisions, obs, now)
    for d in decisions:
        if d.changes:
            history.record_scale(d.pool, now, d.current, d.desired)
    return {d.pool: d for d in decisions}


def two_tiers(high: str = "enterprise") -> Config:
    """A starter pool and a higher-tier pool, each up to 8 replicas, in a cluster of 8."""
    return config(
        {"low": pool("startup", max_replicas=8), "high": pool("bank", max_replicas=8)},
        {"startup": {"tier": "starter"}, "bank": {"tier": high}},
        max_pods=8,
    )


def test_held_pods_yield_to_a_higher_tiers_backlog_under_a_tight_cluster_cap() -> None:
    cfg = two_tiers()
    history = History(cfg)
    tick(
        cfg,
        history,
        0.0,
        low=PoolObservation(pending=8, ack_pending=0, replicas=0, ready=0),
        high=PoolObservation(pending=0, ack_pending=0, replicas=0, ready=0),
    )
    # The starter pool's backlog is gone; its down window still keeps its 8 pods. Then the
    # enterprise pool gets a backlog of 6: the idle held pods must make room for it.
    d = tick(
        cfg,
        history,
        30.0,
        low=PoolObservation(pending=0, ack_pending=0, replicas=8, ready=8),
        high=PoolObservation(pending=6, ack_pending=0, replicas=0, ready=0),
    )
    assert d["high"].desired == 6
    assert d["low"].desired == 2
    assert "yield to real demand" in d["low"].main_reason.detail
    # Without the enterprise backlog the window keeps them (nothing else needs the room).
    history = History(cfg)
    tick(
        cfg,
        history,
        0.0,
        low=PoolObservation(pending=8, ack_pending=0, replicas=0, ready=0),
        high=PoolObservation(pending=0, ack_pending=0, replicas=0, ready=0),
    )
    d = tick(
        cfg,
        history,
        30.0,
        low=PoolObservation(pending=0, ack_pending=0, replicas=8, ready=8),
        high=PoolObservation(pending=0, ack_pending=0, replicas=0, ready=0),
    )
    assert d["low"].desired == 8
    assert d["low"].main_reason.rule == "keep-alive"


def test_a_yielded_hold_does_not_come_back_as_growth() -> None:
    cfg = two_tiers()
    history = History(cfg)
    tick(
        cfg,
        history,
        0.0,
        low=PoolObservation(pending=8, ack_pending=0, replicas=0, ready=0),
        high=PoolObservation(pending=0, ack_pending=0, replicas=0, ready=0),
    )
    tick(
        cfg,
        history,
        30.0,
        low=PoolObservation(pending=0, ack_pending=0, replicas=8, ready=8),
        high=PoolObservation(pending=6, ack_pending=0, replicas=0, ready=0),
    )
    # The enterprise backlog is done at once; the starter pool, now at 2 and still inside its
    # keep-alive, is not regrown to the 8 it held.
    d = tick(
        cfg,
        history,
        35.0,
        low=PoolObservation(pending=0, ack_pending=0, replicas=2, ready=2),
        high=PoolObservation(pending=0, ack_pending=0, replicas=6, ready=6),
    )
    assert d["low"].desired == 2


def test_a_100_task_flash_crowd_reaches_max_replicas_at_the_first_tick() -> None:
    cfg = config({"a": pool("t", max_replicas=40)})  # default behavior
    history = History(cfg)
    tick(cfg, history, 0.0, a=PoolObservation(pending=0, ack_pending=0, replicas=0, ready=0))
    d = tick(cfg, history, 1.0, a=PoolObservation(pending=100, ack_pending=0, replicas=0, ready=0))
    assert d["a"].desired == 40


def test_a_growing_pool_goes_straight_to_its_demand() -> None:
    """The backlog is counted, not a noisy reading: the HPA's doubling every 15 s would have
    taken a minute to reach it, each step a cold start for the tasks waiting."""
    cfg = config({"a": pool("t", max_replicas=100)})
    history = History(cfg)
    tick(cfg, history, 0.0, a=PoolObservation(pending=2, ack_pending=0, replicas=0, ready=0))
    grown = tick(
        cfg, history, 16.0, a=PoolObservation(pending=200, ack_pending=0, replicas=2, ready=2)
    )["a"]
    assert grown.desired == 100
    assert not any(r.rule == "rate limit" for r in grown.reasons)


def before_and_after_a_10_minute_task(typical: float, obs: PoolObservation) -> tuple[int, int]:
    """A pool's desired replicas with a task-time mean of `typical` s, then after one more
    task of 10 minutes (the rest of `obs` as given)."""
    cfg = config({"a": pool("t", max_replicas=50, cold_start_seconds=0)})
    mean = None
    for _ in range(50):
        mean = task_time(mean, typical)
    before = decide(cfg, Observations({"a": replaced(obs, mean_task_seconds=mean)}))[0]
    mean = task_time(mean, 600.0)
    after = decide(cfg, Observations({"a": replaced(obs, mean_task_seconds=mean)}))[0]
    return before.desired, after.desired


def test_one_10_minute_task_does_not_double_a_pool_of_5_s_tasks() -> None:
    before, after = before_and_after_a_10_minute_task(
        5.0, PoolObservation(pending=0, ack_pending=2, replicas=2, ready=2, arrival_rate=4.0)
    )
    assert before == 20  # 4 a second x 5 s
    assert after < 2 * before


def test_one_10_minute_task_does_not_double_a_pools_replicas() -> None:
    before, after = before_and_after_a_10_minute_task(
        30.0, PoolObservation(pending=0, ack_pending=10, replicas=10, ready=10, arrival_rate=0.33)
    )
    assert before == 10
    assert after < 2 * before
    assert after <= 11


def test_a_lone_task_in_the_rate_window_asks_for_one_replica() -> None:
    cfg = config({"a": pool("t")})
    # One arrival in a 30 s window reads as 1/30 a second; tasks take 90 s.
    (d,) = decide(
        cfg,
        Observations(
            {
                "a": PoolObservation(
                    pending=1,
                    ack_pending=0,
                    replicas=0,
                    ready=0,
                    arrival_rate=1 / 30,
                    mean_task_seconds=90.0,
                )
            }
        ),
    )
    assert d.desired == 1


def test_cold_start_covers_what_arrives_while_new_pods_start() -> None:
    cfg = config({"a": pool("t", max_replicas=50, cold_start_seconds=20)})
    # 2 tasks a second of 5 s each, 4 ready pods finishing 0.8 a second: 1.2 a second more
    # arrive than leave, 24 of them during a 20 s cold start.
    obs = PoolObservation(
        pending=10, ack_pending=4, replicas=4, ready=4, arrival_rate=2.0, mean_task_seconds=5.0
    )
    (d,) = decide(cfg, Observations({"a": obs}))
    assert d.desired == 14 + 24
    assert "24 arriving beyond the ready pods' pace during a 20 s cold start" in d.reasons[0].detail


def test_a_target_wait_adds_square_root_headroom_and_says_so() -> None:
    pools = {"a": pool("t", max_replicas=100, cold_start_seconds=0)}
    obs = Observations(
        {
            "a": PoolObservation(
                pending=0,
                ack_pending=20,
                replicas=20,
                ready=20,
                arrival_rate=1.0,
                mean_task_seconds=20.0,
            )
        }
    )
    (plain,) = decide(config(pools), obs)
    objective = {**TIERS, "enterprise": {"priority": 1000, "target_wait_seconds": 2}}
    cfg = config(pools, tiers=objective)
    (staffed,) = decide(cfg, obs)
    assert plain.desired == 20
    assert 20 < staffed.desired <= 40
    assert staffed.main_reason.rule == "latency objective"
    assert "target wait 2 s" in staffed.main_reason.detail


def test_a_pool_past_warn_at_is_paced_while_its_burn_would_overspend_and_grows_after() -> None:
    cfg = config(
        {"a": pool("t", max_replicas=20)},
        {"t": {"tier": "enterprise", "daily_token_budget": 680_000, "warn_at": 0.5}},
    )
    noon, later = 12 * 3600.0, 14 * 3600.0

    def rate(t: float) -> float:  # 50,000 tokens an hour until noon, 10,000 after
        return (50_000 if t < noon else 10_000) / 3600

    # At noon: 600,000 used, 80,000 left, and its last two hours' 50,000 an hour would ask
    # for 100,000 more in the two hours ahead, and 20 tasks of 100 tokens wait: what is left
    # pays for 78% of it, 39,216 tokens an hour now (78% of 50,000). A replica at work spends
    # 100 tokens in 30 s: that pays for 3 of them.
    spend, used = spending(cfg.tenants["t"], rate, 0.0, noon, per_task=100)
    obs = Observations(
        {
            "a": PoolObservation(
                pending=20, ack_pending=0, replicas=1, ready=1, mean_task_seconds=30.0
            )
        },
        tokens_today={"t": used},
        replica_seconds_today={"t": 43_200.0},
        spend={"t": spend.read(noon)},
    )
    (d,) = decide(cfg, obs, now=noon)
    assert d.desired == 3
    assert d.main_reason.rule == "budget warning"
    assert d.main_reason.args[4] == pytest.approx(100_000, rel=1e-2)  # the forecast
    assert "(50,000 tokens an hour now: its last 2 h, read 2 h ahead)" in d.main_reason.detail
    assert "80,000 left, 78% of it: pays for 39,2" in d.main_reason.detail
    assert "3 replicas here (budget pace), 20 -> 3" in d.main_reason.detail
    # Two hours on, its burn has fallen: at most 20,000 more in the two hours ahead fit what is
    # left.
    spend, used = spending(cfg.tenants["t"], rate, 0.0, later, per_task=100)
    after = Observations(
        {
            "a": PoolObservation(
                pending=20, ack_pending=0, replicas=1, ready=1, mean_task_seconds=30.0
            )
        },
        tokens_today={"t": used},
        replica_seconds_today={"t": 50_400.0},
        spend={"t": spend.read(later)},
    )
    (d,) = decide(cfg, after, now=later)
    assert d.desired == 20
    assert 10_000 < d.main_reason.args[4] <= 20_000  # the line still falls a little
    assert d.main_reason.detail.endswith("left: not paced")


def test_a_higher_tiers_backlog_takes_idle_pods_but_cuts_no_running_task_short() -> None:
    cfg = two_tiers()
    # The starter pool has 8 pods, 3 of them at work, and 5 more tasks queued; the enterprise
    # pool gets a backlog of 8. Cutting a running task short would redeliver it and waste its
    # work: the 3 stay, the enterprise pool gets the other 5 now and the rest as tasks end.
    obs = Observations(
        {
            "low": PoolObservation(pending=5, ack_pending=3, replicas=8, ready=8),
            "high": PoolObservation(pending=8, ack_pending=0, replicas=0, ready=0),
        }
    )
    d = {x.pool: x for x in decide(cfg, obs)}
    assert (d["high"].desired, d["low"].desired) == (5, 3)
    obs = Observations(
        {
            "low": PoolObservation(pending=5, ack_pending=1, replicas=3, ready=3),
            "high": PoolObservation(pending=3, ack_pending=5, replicas=5, ready=5),
        }
    )
    d = {x.pool: x for x in decide(cfg, obs)}
    assert (d["high"].desired, d["low"].desired) == (7, 1)


def test_a_blip_of_demand_moves_no_held_pod_and_lasting_demand_does() -> None:
    cfg = two_tiers("growth")
    history = History(cfg)
    idle = PoolObservation(pending=0, ack_pending=0, replicas=0, ready=0)
    tick(
        cfg,
        history,
        0.0,
        low=PoolObservation(pending=8, ack_pending=0, replicas=0, ready=0),
        high=idle,
    )
    for t in range(1, 20):  # the starter pool drained; its down window keeps its 8 pods
        tick(
            cfg,
            history,
            float(t),
            low=PoolObservation(pending=0, ack_pending=0, replicas=8, ready=8),
            high=idle,
        )
    # One tick of lag on the growth pool: too recent to take the held pods.
    d = tick(
        cfg,
        history,
        20.0,
        low=PoolObservation(pending=0, ack_pending=0, replicas=8, ready=8),
        high=PoolObservation(pending=3, ack_pending=0, replicas=0, ready=0),
    )
    assert (d["high"].desired, d["low"].desired) == (0, 8)
    assert "cluster max_pods" in d["high"].main_reason.rule
    # The lag lasts: 15 s later it takes them.
    for t in range(21, 36):
        d = tick(
            cfg,
            history,
            float(t),
            low=PoolObservation(pending=0, ack_pending=0, replicas=8, ready=8),
            high=PoolObservation(pending=3, ack_pending=0, replicas=0, ready=0),
        )
    assert (d["high"].desired, d["low"].desired) == (3, 5)


def test_a_long_cold_start_projects_no_more_than_the_window_saw() -> None:
    cfg = config({"a": pool("t", max_replicas=50, cold_start_seconds=120)})
    # 3 arrivals in the 30 s window, tasks of 60 s, one ready pod: the net inflow over a
    # 120 s cold start would be 0.08/s x 120 = 9.6 tasks, but only 3 were seen arriving.
    (d,) = decide(
        cfg,
        Observations(
            {
                "a": PoolObservation(
                    pending=2,
                    ack_pending=1,
                    replicas=1,
                    ready=1,
                    arrival_rate=0.1,
                    mean_task_seconds=60.0,
                )
            }
        ),
    )
    assert d.desired == 3 + 3


def test_a_soft_capped_tenant_past_its_budget_stops_spending_at_once() -> None:
    # It used to keep its 4 pods for the rest of the day: 20% over budget and climbing.
    cfg = config(
        {"a": pool("t", max_replicas=20)},
        {"t": {"tier": "enterprise", "daily_token_budget": 1_000_000, "hard_cap": False}},
    )
    obs = Observations(
        {"a": PoolObservation(pending=30, ack_pending=4, replicas=4, ready=4)},
        tokens_today={"t": 1_200_000},
        replica_seconds_today={"t": 50_000.0},
    )
    history = History(cfg)
    tick(
        cfg, history, 0.0, a=PoolObservation(pending=8, ack_pending=0, replicas=4, ready=4)
    )  # the down window remembers 4
    (d,) = decide(cfg, obs, history=history, now=60.0)
    assert d.desired == 0
    assert d.main_reason.rule == "budget spent"


def test_the_last_replica_stops_while_the_budget_left_still_pays_for_its_tasks() -> None:
    # 6 tasks wait, 120 tokens each at 2 tokens a replica-second and 60 s a task, and its burn
    # asks for ~260 more in the hour ahead (as long as it was seen). With 10,000 left all is
    # covered: not paced. With 800 left the queue is not: paced, but what is left beyond the
    # forecast still pays for three of a replica's tasks (360): one replica keeps going. At
    # 200 left it stops.
    cfg = config(
        {"a": pool("t", max_replicas=20)},
        {"t": {"tier": "growth", "daily_token_budget": 1_000_000, "hard_cap": False}},
    )
    noon = 12 * 3600.0
    spend, _ = spending(cfg.tenants["t"], lambda t: 0.072, noon - 3600, noon)

    def at(used: int) -> int:
        obs = Observations(
            {
                "a": PoolObservation(
                    pending=5, ack_pending=1, replicas=1, ready=1, mean_task_seconds=60.0
                )
            },
            tokens_today={"t": used},
            replica_seconds_today={"t": used / 2},
            spend={"t": spend.read(noon)},
        )
        (d,) = decide(cfg, obs, now=noon)
        return d.desired

    assert at(990_000) == 6
    assert at(999_200) == 1
    assert at(999_800) == 0


def eight_at_once() -> Config:
    """Pods that run 8 tasks at once, scaled to 2 tasks in the system a replica."""
    spec = {"concurrency": 8, "target_lag_per_replica": 2, "cold_start_seconds": 20}
    return config({"a": pool("t", max_replicas=20, **spec)})


def test_tasks_in_flight_add_pods_only_when_they_outlast_a_cold_start() -> None:
    """No task waits (each pod still has free slots): a rise of the tasks in flight that is
    over within a cold start is over before a pod asked for it would be ready. Scaling for
    it cost pod-seconds and a scale-down a minute later, and no task waited less."""
    cfg = eight_at_once()
    history = History(cfg)
    tick(cfg, history, 0.0, a=PoolObservation(pending=0, ack_pending=8, replicas=0, ready=0))
    assert (
        tick(cfg, history, 30.0, a=PoolObservation(pending=0, ack_pending=8, replicas=4, ready=4))[
            "a"
        ].desired
        == 4
    )
    blip = tick(
        cfg, history, 35.0, a=PoolObservation(pending=0, ack_pending=14, replicas=4, ready=4)
    )["a"]
    assert blip.desired == 4
    assert blip.main_reason.rule == "stabilization"
    assert blip.main_reason.detail == (
        "no task waits, so only tasks in flight that last a cold start (20 s) add pods: "
        "lowest recommendation in it 4: 7 -> 4"
    )
    assert (
        tick(cfg, history, 45.0, a=PoolObservation(pending=0, ack_pending=8, replicas=4, ready=4))[
            "a"
        ].desired
        == 4
    )
    assert (
        tick(cfg, history, 60.0, a=PoolObservation(pending=0, ack_pending=14, replicas=4, ready=4))[
            "a"
        ].desired
        == 4
    )
    lasted = tick(
        cfg, history, 80.0, a=PoolObservation(pending=0, ack_pending=14, replicas=4, ready=4)
    )["a"]
    assert lasted.desired == 7


def test_a_task_that_waits_adds_pods_at_once() -> None:
    cfg = eight_at_once()
    history = History(cfg)
    tick(cfg, history, 0.0, a=PoolObservation(pending=0, ack_pending=8, replicas=0, ready=0))
    assert (
        tick(cfg, history, 30.0, a=PoolObservation(pending=0, ack_pending=8, replicas=4, ready=4))[
            "a"
        ].desired
        == 4
    )
    waiting = tick(
        cfg, history, 35.0, a=PoolObservation(pending=2, ack_pending=14, replicas=4, ready=4)
    )["a"]
    assert waiting.desired == 8  # (2 + 14) / 2, no window
    assert not any(r.rule == "stabilization" for r in waiting.reasons)


def test_tasks_in_flight_beyond_the_ready_pods_slots_add_pods_at_once() -> None:
    """Unacked tasks more than the ready pods can run (pods gone, their tasks waiting for the
    ack wait to come back) are not all running: they wait, and are answered at once."""
    cfg = eight_at_once()
    history = History(cfg)
    tick(cfg, history, 0.0, a=PoolObservation(pending=0, ack_pending=8, replicas=0, ready=0))
    assert (
        tick(cfg, history, 30.0, a=PoolObservation(pending=0, ack_pending=8, replicas=4, ready=4))[
            "a"
        ].desired
        == 4
    )
    stuck = tick(
        cfg, history, 35.0, a=PoolObservation(pending=0, ack_pending=14, replicas=4, ready=1)
    )["a"]  # 8 slots ready
    assert stuck.desired == 7
    assert not any(r.rule == "stabilization" for r in stuck.reasons)


def test_arrivals_that_ask_for_more_than_the_tasks_in_flight_add_pods_at_once() -> None:
    """The steady load (Little's law) anticipates: its rise is not held for a cold start."""
    cfg = eight_at_once()
    history = History(cfg)
    tick(cfg, history, 0.0, a=PoolObservation(pending=0, ack_pending=8, replicas=0, ready=0))
    assert (
        tick(cfg, history, 30.0, a=PoolObservation(pending=0, ack_pending=8, replicas=4, ready=4))[
            "a"
        ].desired
        == 4
    )
    # 8 a second x 20 s: 160 tasks in the system soon, 8 a replica: 20 (the lag asks for 6)
    rising = PoolObservation(
        pending=0, ack_pending=12, replicas=4, ready=4, arrival_rate=8.0, mean_task_seconds=20.0
    )
    grown = tick(cfg, history, 35.0, a=rising)["a"]
    assert grown.desired == 20
    assert not any(r.rule == "stabilization" for r in grown.reasons)
