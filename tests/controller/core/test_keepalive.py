"""The keep-alive each pool learns from its own gaps (controller.core.keepalive), and what the
policy makes of it: holds that follow the pool's traffic, pre-warming before bursts that
recur, regrowing in one step, and no pod at work given up."""

from __future__ import annotations

import random
from copy import deepcopy

import pytest

import controller.core.demand as demand_module
from controller.core.config import Config
from controller.core.demand import Need, noise_top
from controller.core.history import History, PoolHistory
from controller.core.keepalive import KeepAlive
from controller.core.keepalive_levels import Pace, bands
from controller.core.model import Observations, PoolObservation, Reason, ScaleDecision
from controller.core.policy import decide
from controller.core.ski_rental import Plan, plan
from controller.core.time_rules import time_rules
from controller.simulate.backtest import make_scaler
from tests.support.builders import p95, replay, trace
from tests.support.factories import config, pool


@pytest.mark.parametrize(
    ("gaps", "expected"),
    [
        # Too few gaps: plain ski rental, held until the hold has cost a miss (60 s).
        ([200.0, 210.0], Plan(hold_s=60.0, gaps=2, miss_s=60.0)),
        # Quiet minutes between bursts, short and alike: holding through them (and 10% more)
        # costs less than the cold starts it spares.
        (
            [50.0, 52.0, 55.0, 48.0, 51.0],
            Plan(
                hold_s=55 * 1.1, learned=True, gaps=5, median_s=51.0, shortest_s=48.0, miss_s=60.0
            ),
        ),
        # Quiet hours between rare bursts, no regularity: each gap costs more to hold than a
        # miss, so the pods go after one cold start.
        (
            [700.0, 3000.0, 1500.0, 5000.0, 900.0],
            Plan(hold_s=20.0, learned=True, gaps=5, median_s=1500.0, shortest_s=700.0, miss_s=60.0),
        ),
    ],
)
def test_a_plan_weighs_holding_against_the_misses_it_spares(
    gaps: list[float], expected: Plan
) -> None:
    assert plan(sorted(gaps), cold_start=20.0, miss_s=60.0) == pytest.approx(expected)


def test_bursts_that_recur_on_time_are_pre_warmed_rather_than_held() -> None:
    # Every 10 minutes to within a few seconds: from a cold start before the shortest gap
    # until past the longest, rather than through the 10 quiet minutes.
    chosen = plan([598.0, 599.0, 600.0, 601.0, 602.0], cold_start=20.0, miss_s=300.0)
    assert chosen.prewarm_s == pytest.approx(598 * 0.9 - 20)
    assert chosen.hold_s is not None
    assert chosen.hold_s > 602


def test_levels_band_together_above_four_replicas() -> None:
    assert bands(4) == (1, 2, 3, 4)
    assert bands(30) == (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 18, 22, 27)


def test_a_gap_shorter_than_a_cold_start_teaches_nothing() -> None:
    keep = KeepAlive(edges=(1, 2), cold_start=20.0, lag_per_replica=2.0)
    now = 0
    for quiet in (25, 30, 15, 40, 0):  # seconds between 10 s bursts; 15 s is too short
        for _ in range(10):
            keep.record(float(now), 2)
            now += 1
        for _ in range(quiet):
            keep.record(float(now), 0)
            now += 1
    assert [list(level.gaps) for level in keep.levels] == [[26.0, 31.0, 41.0]] * 2


def test_a_level_plans_from_its_newest_gaps_alone() -> None:
    """A level keeps its newest 48 gaps: after 100, its plan reads those and no older one."""
    keep = KeepAlive(edges=(1,), cold_start=20.0, lag_per_replica=2.0)
    now = 0.0
    for k in range(100):  # 30 s quiet, then longer and longer: the oldest are the shortest
        keep.record(now, 1)
        keep.record(now + 1, 0)
        now += 1 + 30.0 + k
    keep.record(now, 1)
    newest = sorted(keep.levels[0].gaps)
    assert len(newest) == 48
    made = keep.plans()[0]
    assert (made.gaps, made.shortest_s, made.median_s) == (48, newest[0], newest[24])
    assert made.shortest_s == 31.0 + 52  # the 53rd gap (31 s from its last use, and longer)


# --- the policy --------------------------------------------------------------------------------


def bursty(**fields: object) -> Config:
    """One pool with the default behavior (so it learns), 2 tasks a replica, 20 s cold start."""
    spec = pool("acme", **({"max_replicas": 20, "target_lag_per_replica": 2} | fields))
    return config({"assist": spec})


class Fleet:
    """decide() at every tick, the pool following each decision at once, as the live loop."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.history = History(cfg)
        self.replicas = 0

    def tick(
        self,
        now: float,
        lag: int,
        in_flight: int = 0,
        task_s: float | None = None,
        rate: float | None = None,
    ) -> ScaleDecision:
        reading = PoolObservation(
            pending=lag - in_flight,
            ack_pending=in_flight,
            replicas=self.replicas,
            ready=self.replicas,
            mean_task_seconds=task_s,
            arrival_rate=rate,
        )
        obs = Observations({"assist": reading})
        (decision,) = decide(self.cfg, obs, history=self.history, now=now)
        self.history.record_tick([decision], obs, now)
        if decision.changes:
            self.history.record_scale("assist", now, decision.current, decision.desired)
            self.replicas = decision.desired
        return decision

    def tick_stale(self, now: float) -> ScaleDecision:
        """A tick whose reading of the pool failed: held, as the live loop holds it."""
        reading = PoolObservation(
            pending=0, ack_pending=0, replicas=self.replicas, ready=self.replicas, stale="down"
        )
        obs = Observations({"assist": reading})
        (decision,) = decide(self.cfg, obs, history=self.history, now=now)
        self.history.record_tick([decision], obs, now)
        return decision


def run_bursts(
    fleet: Fleet, every: float, busy: float, lag: int, bursts: int, task_s: float | None = None
) -> list[int]:
    """`bursts` bursts of `lag` tasks, each `busy` seconds, every `every` seconds; the replicas
    each burst found when it came."""
    found = []
    for k in range(bursts):
        start = k * every
        found.append(fleet.replicas)
        for t in range(int(every)):
            fleet.tick(start + t, lag if t < busy else 0, task_s=task_s)
    return found


def test_bursts_every_3_minutes_with_a_20_s_cold_start_keep_their_pods() -> None:
    # 24 tasks (12 replicas' worth) for 2 minutes, then a quiet minute. A quiet minute held
    # costs 60 s of each pod; letting it go costs its cold start again and 2 tasks waiting
    # 20 s each (80 s): the pool learns to keep them.
    fleet = Fleet(bursty())
    found = run_bursts(fleet, every=180.0, busy=120, lag=24, bursts=8)
    assert found[:2] == [0, 0]  # nothing known yet: the first quiet minutes let them go
    assert found[-4:] == [12] * 4  # learned: every later burst finds its 12 pods up
    for t in range(120):
        fleet.tick(8 * 180.0 + t, 24)
    held = fleet.tick(8 * 180.0 + 150, 0)
    assert held.desired == 12
    assert held.main_reason.rule == "keep-alive"
    assert "their last 8 gaps (median 61 s) say hold 67 s" in held.main_reason.detail


def test_a_pool_of_short_tasks_prices_a_miss_by_the_tasks_a_pod_takes_in_a_cold_start() -> None:
    # Quiet 60-120 s between minute-long bursts. Priced as a pod's share of the lag (2 tasks
    # each waiting the 20 s cold start: 60 s), holding a pod through them costs more: the
    # levels above the first go. Measured at 2 s a task, a released pod would have taken 10
    # tasks in its cold start, each waiting half of it on average: a miss costs 120 s, and
    # the pods are held through.
    def found(task_s: float | None, rate: float | None) -> tuple[list[int], ScaleDecision]:
        fleet, rng, start, seen = Fleet(bursty()), random.Random(3), 0.0, []
        for _ in range(12):
            seen.append(fleet.replicas)
            for t in range(60):
                fleet.tick(start + t, 24, task_s=task_s, rate=rate)
            quiet = rng.uniform(60.0, 120.0)
            held = fleet.tick(start + 90, 0, task_s=task_s, rate=rate)
            start += 60 + quiet
        return seen, held

    unmeasured, _ = found(task_s=None, rate=None)
    assert unmeasured[-3:] == [1] * 3  # the first level
    measured, held = found(task_s=2.0, rate=None)
    assert measured[-3:] == [12] * 3
    assert held.desired == 12
    priced = "(10.0 tasks a pod takes in a cold start price a miss at 120 pod-seconds)"
    assert priced in held.main_reason.detail


def test_a_pod_is_priced_by_no_more_tasks_than_arrive_for_it() -> None:
    # 2 s tasks: a pod finishes 10 in a 20 s cold start, if they come. 12 a second over 12
    # pods bring 20 each meanwhile: 10 it is. 0.4 a second bring under one: the lag's share
    # (2 a pod) stands, and nothing is learned.
    fast = KeepAlive(edges=bands(20), cold_start=20.0, lag_per_replica=2.0)
    fast.record(0.0, 0)
    assert fast.record(1.0, 12, Pace(task_s=2.0, rate=12.0)) is True
    assert fast.taken == 10.0
    assert fast.level_miss() == 20.0 * (1 + 10 / 2)
    trickle = KeepAlive(edges=bands(20), cold_start=20.0, lag_per_replica=2.0)
    trickle.record(0.0, 0)
    trickle.record(1.0, 12, Pace(task_s=2.0, rate=0.4))
    assert trickle.taken is None
    assert trickle.level_miss() == 20.0 * (1 + 2.0)


def test_an_idle_levels_plan_stands_when_a_level_taken_up_later_moves_the_price() -> None:
    """The price of a miss is measured as each level is taken up, and one measurement swings
    with the level and the rate of the moment. A level let go keeps the price its plan was
    made at until its next use: remade at each swing, a pre-warm already begun was let go
    before its pods were up (17 -> 4 -> 17 within seconds on a real code trace)."""
    keep = KeepAlive(edges=bands(20), cold_start=20.0, lag_per_replica=2.0, concurrency=4)
    keep.record(0.0, 0)
    keep.record(1.0, 12, Pace(task_s=2.0, rate=12.0))  # 20 tasks a pod in a cold start
    keep.hold(2.0, 12, 12)  # (a claim: the plans of the levels in use are made)
    keep.record(60.0, 0)  # every level let go
    twelve = next(k for k, level in enumerate(keep.levels) if level.replicas == 12)
    released = keep.plans()[twelve]
    assert released.miss_s == 20.0 * (1 + 20 / 2)

    assert keep.record(100.0, 2, Pace(task_s=2.0, rate=1.0)) is True  # 10 a pod: it moved

    assert keep.plans()[twelve] == released  # out of use: priced as when it was let go
    assert keep.plans()[1].miss_s == 20.0 * (1 + 10 / 2)  # in use: priced anew


def test_a_pool_that_weighs_waiting_more_keeps_its_pods_before_its_pattern_is_known() -> None:
    # Minute-long bursts with 90-150 s between. With no pattern yet, a level is held until
    # the hold has cost a miss: a pod's cold start and its 2 tasks waiting it (60 s) by
    # default, so the first quiet gaps let the pods go. Waiting weighed double prices a miss
    # at 100 s, and the second burst already finds its 12 pods.
    def found(**keep: float) -> tuple[list[int], ScaleDecision]:
        fleet = Fleet(bursty(**({"keep_alive": keep} if keep else {})))
        rng, start, seen = random.Random(3), 0.0, []
        for _ in range(12):
            seen.append(fleet.replicas)
            for t in range(60):
                fleet.tick(start + t, 24)
            held = fleet.tick(start + 140, 0)
            start += 60 + rng.uniform(90.0, 150.0)
        return seen, held

    default, plain = found()
    assert default[:5] == [0, 0, 1, 1, 12]
    weighed, held = found(wait_weight=2.0)
    assert weighed[:5] == [0, 12, 12, 12, 12]
    assert held.desired == plain.desired == 12  # learned, both pre-warm what recurs
    weight = "(a second of waiting weighs 2 s of an idle pod: keep_alive.wait_weight)"
    assert held.main_reason.detail.endswith(weight)
    assert "keep_alive" not in plain.main_reason.detail


def test_weighing_waiting_more_does_not_keep_pods_through_an_hour() -> None:
    fleet = Fleet(bursty(keep_alive={"wait_weight": 4.0}))
    run_bursts(fleet, every=3600.0, busy=60, lag=24, bursts=4)
    for t in range(60):
        fleet.tick(4 * 3600.0 + t, 24)
    assert fleet.tick(4 * 3600.0 + 85, 0).desired == 0  # its gaps are an hour: it learned
    assert fleet.tick(4 * 3600.0 + 1800, 0).desired == 0


def test_a_pool_busy_once_an_hour_gives_its_pods_up_after_a_cold_start() -> None:
    fleet = Fleet(bursty())
    run_bursts(fleet, every=3600.0, busy=60, lag=24, bursts=4)
    assert fleet.replicas == 0
    for t in range(60):
        fleet.tick(4 * 3600.0 + t, 24)
    assert fleet.replicas == 12
    assert fleet.tick(4 * 3600.0 + 75, 0).desired == 12  # one cold start after it
    assert fleet.tick(4 * 3600.0 + 85, 0).desired == 0


def test_a_pool_whose_wakes_meet_whole_bursts_has_one_pod_up_for_each() -> None:
    # Released to zero, a pool makes the whole head of the next burst wait a cold start: 24
    # tasks here (12 replicas asked for within it), each half a cold start on average, which
    # costs more than one pod held through a quiet 130-230 s (or released and pre-warmed for
    # the next). The levels above price a miss as their pod's share (60 s), and go.
    def found(lag: int) -> tuple[list[int], ScaleDecision]:
        fleet, rng, start, seen = Fleet(bursty()), random.Random(3), 0.0, []
        for _ in range(12):
            seen.append(fleet.replicas)
            for t in range(20):
                fleet.tick(start + t, lag)
            quiet = fleet.tick(start + 120, 0)
            start += 20 + rng.uniform(130.0, 230.0)
        return seen, quiet

    whole, held = found(lag=24)
    assert whole[-4:] == [1] * 4  # the first level
    assert held.desired == 1
    (kept,) = [r for r in held.reasons if r.rule in ("keep-alive", "pre-warm")]
    assert "wakes from zero asked for 12.0 replicas within a cold start" in kept.detail
    assert held.main_reason == kept
    single, _ = found(lag=1)  # a head of one task costs less than a quiet 130-230 s
    assert single[-4:] == [0] * 4


def test_a_wake_teaches_the_first_level_one_cold_start_after_it() -> None:
    keep = KeepAlive(edges=bands(20), cold_start=20.0, lag_per_replica=2.0)
    keep.record(0.0, 0)
    assert keep.first_miss() == 60.0  # no wake seen: a miss of any level
    for t, value in [(100.0, 3), (105.0, 9), (119.0, 12), (120.0, 12)]:
        keep.record(t, value)
    assert keep.record(121.0, 30) is False  # past the cold start: not the head
    assert list(keep.wakes.heads) == [12]
    assert keep.first_miss() == 20.0 * (1 + 2.0 * 12 / 2)


def test_an_explicit_scale_down_behavior_or_cooldown_keeps_the_fixed_rules() -> None:
    for fields in (
        {"cooldown_seconds": 240},
        {"behavior": {"scale_down": {"stabilization_seconds": 120}}},
    ):
        fleet = Fleet(bursty(**fields))
        run_bursts(fleet, every=180.0, busy=120, lag=24, bursts=4)
        d = fleet.tick(4 * 180.0 + 130, 0)
        assert d.main_reason.rule in {"stabilization", "cooldown"}, fields


def test_a_pool_regrows_to_a_recent_level_in_one_step() -> None:
    fleet = Fleet(bursty(max_replicas=40))
    fleet.tick(0.0, 40)  # from zero: straight to its demand, 20
    assert fleet.replicas == 20
    for t in range(1, 200):
        fleet.tick(float(t), 0)  # quiet long enough to let them go
    assert fleet.replicas == 0
    fleet.tick(200.0, 2)
    assert fleet.replicas == 1
    back = fleet.tick(201.0, 40)  # the HPA's rate policies would allow 1 -> 5
    assert back.desired == 20
    assert not any(r.rule == "rate limit" for r in back.reasons)


def test_no_pod_at_work_is_given_up_to_save_idle_time() -> None:
    fleet = Fleet(bursty())
    fleet.tick(0.0, 16)
    assert fleet.replicas == 8
    # The queue is empty but 4 tasks still run: 2 tasks a replica would say 2; the 4 at work
    # stay (the need and its noise, 3 replicas, are below them: no spare).
    d = fleet.tick(100.0, 4, in_flight=4)
    assert d.desired == 4
    assert d.main_reason.rule == "at work"


@pytest.mark.parametrize("seed", range(4))
def test_a_hold_is_what_every_level_asked_anew_would_say(seed: int) -> None:
    """`hold` skips the levels whose holds ended (KeepAlive._awake); asked afresh, every
    level looked at, it says the same, through bursts, lulls and levels coming into use."""
    rng = random.Random(seed)
    keep = KeepAlive(edges=bands(30), cold_start=20.0, lag_per_replica=2.0)
    now, value = 0.0, 0
    for _ in range(3000):
        now += rng.choice((1.0, 1.0, 1.0, 5.0, 30.0, 90.0))
        if rng.random() < 0.3:
            value = rng.choice((0, 0, 1, 2, rng.randrange(0, 31)))
        wanted = value if rng.random() < 0.7 else rng.randrange(0, 31)
        current = rng.randrange(0, 31)
        if rng.random() < 0.2:
            fresh = deepcopy(keep)
            fresh._awake = None
            assert keep.hold(now, current, wanted) == fresh.hold(now, current, wanted)
        else:
            keep.hold(now, current, wanted)
        keep.record(now, value)


@pytest.mark.parametrize("seed", range(4))
def test_a_plan_priced_again_is_what_its_gaps_and_price_say_afresh(seed: int) -> None:
    """A plan forgotten because its price may have moved (a wake's head learned, the pace)
    is made again only if the price did move (Level.made): the plans say what plans made
    from nothing would, through bursts, lulls, wakes and paces that swing."""
    rng = random.Random(seed)
    keep = KeepAlive(edges=bands(30), cold_start=20.0, lag_per_replica=2.0, concurrency=4)
    now, value = 0.0, 0
    for _ in range(2000):
        now += rng.choice((1.0, 1.0, 5.0, 30.0, 90.0))
        if rng.random() < 0.3:
            value = rng.choice((0, 0, 1, 2, rng.randrange(0, 31)))
        pace = Pace(task_s=rng.choice((0.5, 2.0, 8.0)), rate=rng.choice((1.0, 12.0)))
        keep.record(now, value, pace if rng.random() < 0.2 else None)
        if rng.random() < 0.2:
            for level in keep.levels:  # each priced again, at the price of now
                level.plan = None
            keep._plans = None
            fresh = deepcopy(keep)
            for level in fresh.levels:
                level.made = None
            assert keep.plans() == fresh.plans()


def test_a_level_that_takes_in_longer_memory_of_gaps_plans_from_them() -> None:
    """A handover brings a level more gaps than it has (KeepAlive.merge): its plan is made
    from them, though its price is the same as when it was last made."""
    mine = KeepAlive(edges=bands(4), cold_start=20.0, lag_per_replica=2.0)
    theirs = deepcopy(mine)
    for keep, gaps in ((mine, (200.0, 210.0, 190.0)), (theirs, (50.0,) * 6)):
        now = 0.0
        keep.record(now, 2)
        for gap in gaps:  # a second at 2 replicas, then `gap` at none
            keep.record(now + 1, 0)
            now += 1 + gap
            keep.record(now, 2)
        keep.record(now + 1, 0)
    before = mine.plans()[1]
    assert before.gaps == 3

    mine.merge(theirs)

    after = mine.plans()[1]
    assert after.miss_s == before.miss_s
    assert (after.gaps, after.median_s) == (6, 51.0)  # a level's use ends at its last record


@pytest.mark.parametrize(
    ("replicas", "exact", "top"),
    [
        # 2 tasks a replica: a need of r replicas varies by sqrt(r / 2) replicas.
        (4, 4.0, 5),  # 4 + half of 1.41: 4.7, up to 5
        (4, 3.2, 4),  # 3.2 + half of 1.26: 3.8, within the 4 it was rounded up to
        (1, 0.3, 1),  # a trickle: one replica, not two
        (1, 0.9, 2),  # just under one replica: the noise takes it over
        (60, 60.0, 63),  # 60 + half of 5.5
        (0, 0.0, 0),
        (200, 200.0, 200),  # never above max_replicas
    ],
)
def test_a_scale_down_lands_half_the_arrivals_noise_above_the_need(
    replicas: int, exact: float, top: int
) -> None:
    spec = bursty(max_replicas=200).pools["assist"]
    assert noise_top(spec, Need(replicas=replicas, exact=exact)) == top
    assert noise_top(spec, Need(replicas=replicas, exact=exact), rate=0.5) == top


@pytest.mark.parametrize(("replicas", "exact"), [(1, 1.0), (4, 4.0), (1, 0.9), (60, 60.0)])
def test_with_no_arrival_in_the_window_a_scale_down_lands_on_the_need(
    replicas: int, exact: float
) -> None:
    """The tasks at hand are known, not a Poisson count: a 2-hour task alone in its pool holds
    one replica, not two (it held two, for its two hours)."""
    spec = bursty(max_replicas=200).pools["assist"]
    assert noise_top(spec, Need(replicas=replicas, exact=exact), rate=0.0) == replicas


@pytest.mark.parametrize(
    ("current", "asked", "top", "lands"),
    [
        (8, 4, 5, 5),
        (8, 4, 4, 4),  # no spare: nothing to explain
        (5, 2, 7, 5),  # never above what the pool has
        (8, 0, 2, 0),  # going idle is the first level's to decide
    ],
)
def test_a_learned_pool_scales_down_onto_the_noise_above_its_need(
    current: int, asked: int, top: int, lands: int
) -> None:
    spec = bursty(max_replicas=200).pools["assist"]
    past = PoolHistory(keep=KeepAlive.for_pool(spec))
    past.recommend(0.0, current)  # used once, long ago: the keep-alive holds nothing now
    reasons: list[Reason] = []
    timed = time_rules(spec, past, current, asked, 1000.0, reasons, top=top)
    assert timed.replicas == lands
    if lands > asked:
        said = f"lands on {asked} and {lands - asked} more against the arrivals' noise"
        assert reasons[-1].rule == "landing"
        assert reasons[-1].detail.startswith(said)
    else:
        assert "landing" not in [r.rule for r in reasons]


def test_landing_above_the_reading_spares_a_steady_stream_its_reversals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Poisson arrivals, 0.6 a second for two hours, of tasks of about 25 s, 2 at once a pod:
    # the lag wobbles by its square root. Landing exactly on a low reading, the next wobble
    # up asks for the pod back within a minute: a reversal, a cold start, and tasks waiting.
    spec = pool("acme", max_replicas=60, target_lag_per_replica=2, concurrency=2)
    cfg = config({"assist": spec})
    rng = random.Random(7)
    rows, t = [], 0.0
    while t < 7200.0:
        t += rng.expovariate(0.6)
        rows.append((t, "assist", rng.lognormvariate(3.2, 0.5), 100))
    tasks = trace(cfg, *rows)

    def run_with(sigmas: float) -> tuple[int, float]:
        monkeypatch.setattr(demand_module, "LANDING_SIGMAS", sigmas)
        cluster = replay(cfg, tasks, make_scaler("agentdash", cfg))
        return cluster.reversals, p95(cluster, tasks)

    landed_reversals, landed_p95 = run_with(demand_module.LANDING_SIGMAS)
    exact_reversals, exact_p95 = run_with(0.0)
    assert landed_reversals < exact_reversals  # 41 against 45
    assert landed_p95 < 0.9 * exact_p95  # 2.4 s against 2.9 s


def test_a_plan_held_for_another_time_keeps_everything_else_it_says() -> None:
    # The reasons quote a capped plan's gaps, pre-warm and price: capping must not lose them.
    said = {
        "prewarm_s": 90.0,
        "learned": True,
        "gaps": 12,
        "median_s": 150.0,
        "shortest_s": 60.0,
        "head": 3.0,
        "taken": 2.5,
        "miss_s": 75.0,
        "weight": 2.0,
        "tail": 0.08,
    }
    assert set(Plan.FIELDS) == {"hold_s", *said}, "a new field of Plan: give it a value here"
    capped = Plan(hold_s=400.0, **said).held_for(200.0)
    assert capped == Plan(hold_s=200.0, **said)


def test_a_release_says_which_hold_ended_and_what_its_gaps_said() -> None:
    fleet = Fleet(bursty())
    run_bursts(fleet, every=3600.0, busy=60, lag=24, bursts=4)
    for t in range(60):
        fleet.tick(4 * 3600.0 + t, 24)
    released = fleet.tick(4 * 3600.0 + 85, 0)
    assert released.desired == 0
    said = released.main_reason
    assert said.rule == "keep-alive"
    # not needed since its last busy tick; its 4 hourly gaps said hold one cold start
    assert said.detail == (
        "not needed since 04:00:59 UTC; the last 4 gaps (median 3541 s) said hold 20 s, to "
        "04:01:19 UTC: let go, 12 -> 0"
    )


def test_an_outage_is_not_idle_time_for_a_learned_keep_alive() -> None:
    """A pool that learned to hold its pods 67 s after a burst, whose queue could not be read
    for two minutes after one: the first reading after the outage finds no task yet (its
    producers' retries are on their way) and still holds the pods. The outage counts as
    time at the replicas held, as the fixed rules' cooldown and window count it."""
    fleet = Fleet(bursty())
    run_bursts(fleet, every=180.0, busy=120, lag=24, bursts=8)
    start = 8 * 180.0
    for t in range(120):
        fleet.tick(start + t, 24)
    assert fleet.replicas == 12
    for t in range(125, 245):  # the queue's source fails: the pool is held where it is
        held = fleet.tick_stale(start + t)
        assert (held.desired, held.main_reason.rule) == (12, "stale")
    after = fleet.tick(start + 246, 0)
    assert after.desired == 12, after.reasons
    assert after.main_reason.rule == "keep-alive"
