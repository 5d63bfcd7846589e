"""The time rules' memory in NATS KV (controller.coordination.handover), on a real JetStream: a
successor decides as the old leader would have, garbage in the bucket is ignored, and a steady fleet
costs one write a tick."""

from __future__ import annotations

import json
import logging
import shutil
from typing import Any

import nats.js.errors
import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.coordination.handover import BUCKET, REFRESH_S, TTL_S
from controller.coordination.history_docs import MAX_ENTRIES, key_of, pool_of
from controller.core.config import Config
from controller.core.history import History
from controller.core.keepalive import KeepAlive
from controller.core.keepalive_levels import Pace
from controller.core.model import Observations
from controller.core.policy import decide
from controller.core.tail import MIN_CYCLES
from tests.support import eventually
from tests.support.factories import config, observe, pool
from tests.support.fleets import one_waking_pool
from tests.support.loops import Loop, handover, leader, take_over

BEHAVIOR = {
    "scale_up": {"policies": [{"type": "Pods", "value": 8, "period_seconds": 60}]},
    "scale_down": {
        "stabilization_seconds": 300,
        "policies": [{"type": "Percent", "value": 50, "period_seconds": 60}],
    },
}


def fleet(*names: str) -> Config:
    return config(
        {name: pool("acme", max_replicas=10, cooldown_seconds=120, behavior=BEHAVIOR)
         for name in names or ("research",)}
    )  # fmt: skip


def keeps(old: Loop, successor: Loop) -> tuple[KeepAlive, KeepAlive]:
    """The research pool's learned keep-alive: the old leader's, and its successor's."""
    learned = old.history.pools["research"].keep
    taken = successor.history.pools["research"].keep
    assert learned is not None
    assert taken is not None
    return learned, taken


def lag_at(t: float) -> int:
    """8 tasks for the first minute, then none."""
    return 8 if t < 60 else 0


async def test_a_successor_decides_as_the_old_leader_would_have(nc: Client) -> None:
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    # Successors taking over at the next tick (busy; in the down window; between rate steps)
    # or 20 s after the old leader's last save (its dead time).
    takeovers = {30.0: 35.0, 100.0: 105.0, 365.0: 370.0, 390.0: 410.0}
    successors: list[tuple[float, Loop]] = []
    seen: list[int] = []
    for t in range(0, 700, 5):
        now = float(t)
        decision = old.tick(now, research=lag_at(now))
        seen.append(decision.desired)
        await saver.save(old.history, now)
        for start, successor in successors:
            if now >= start:
                assert successor.tick(now, research=lag_at(now)) == decision, (start, now)
        if now in takeovers:
            successor, restored = await take_over(nc, cfg, old, now)
            assert restored == 1
            successors.append((takeovers[now], successor))
    # What the successors had to hold: 8 through the down window, then 50% a minute.
    assert seen[1:12] == [8] * 11
    assert seen[seen.index(4) - 1] == 8
    assert seen[-1] == 0


async def test_without_the_bucket_a_successor_drops_8_to_4_in_the_window(nc: Client) -> None:
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    for t in range(0, 100, 5):
        old.tick(float(t), research=lag_at(t))
        await saver.save(old.history, float(t))
    forgetful, restored = Loop(cfg), Loop(cfg)
    for successor in (forgetful, restored):
        successor.replicas = dict(old.replicas)
    await (await handover(nc, cfg)).restore(restored.history, 110.0)

    assert forgetful.tick(110.0).desired == 4  # the reported bug
    held = restored.tick(110.0)
    assert held.desired == 8
    assert held.main_reason.rule == "stabilization"
    assert "highest recommendation in the last 300 s is 8" in held.main_reason.detail


async def test_a_steady_recommendation_is_held_from_its_last_tick_not_its_last_write(
    nc: Client,
) -> None:
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    for t in range(0, 201):  # 8 tasks waiting for 200 s: the pool is written once
        old.tick(float(t), research=8)
        await saver.save(old.history, float(t))
    assert saver.writes == 1 + 201  # the pool at t=0 (then only steps), and `tick` each time
    successor, _ = await take_over(nc, cfg, old, 210.0)

    assert successor.tick(210.0).desired == 8  # the tasks are gone, the window holds
    assert successor.tick(499.0).desired == 8  # 200 + 300 s: still inside
    assert successor.tick(501.0).desired == 4  # not 0 + 300 s: the pool's last write


async def test_a_successor_whose_clock_is_behind_still_holds_the_window(nc: Client) -> None:
    """Its predecessor's clock was 50 s ahead (another host's): its history is taken, each
    time read as now at the latest, and holds the pool. Refused as "in the future", the
    successor let 8 -> 4 go at once."""
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    for t in range(0, 100, 5):
        old.tick(float(t), research=lag_at(t))
        await saver.save(old.history, float(t))
    successor, restored = await take_over(nc, cfg, old, 99.0 - 50.0)

    assert restored == 1
    held = successor.tick(99.0 - 50.0)
    assert held.desired == 8
    assert held.main_reason.rule == "stabilization"
    assert successor.tick(348.0).desired == 8  # its last 8 (at 55) read as of 49, + 300 s
    assert successor.tick(350.0).desired == 4


async def test_a_steady_fleet_of_1000_pools_costs_one_write_a_tick(nc: Client) -> None:
    names = [f"p{i}" for i in range(1000)]
    cfg = fleet(*names)
    history, saver = History(cfg), await handover(nc, cfg)
    await saver.restore(history, 0.0)
    lags = {name: i % 3 for i, name in enumerate(names)}

    async def tick(now: float) -> int:
        before = saver.writes
        obs = observe(**{name: (lag, 0, 1) for name, lag in lags.items()})
        history.record_tick(decide(cfg, obs, history=history, now=now), obs, now)
        await saver.save(history, now)
        return saver.writes - before

    assert await tick(0.0) == 1000 + 1  # every pool once, and `tick`
    assert await tick(1.0) == 334 + 1  # those idle since they were first seen: no longer busy
    assert [await tick(float(t)) for t in range(2, 30)] == [1] * 28  # `tick` only
    lags["p7"] = 5  # one pool's demand changes
    assert await tick(30.0) == 2


async def test_a_steady_pool_is_rewritten_before_the_buckets_ttl_could_take_it(
    nc: Client,
) -> None:
    cfg = fleet()
    history, saver = History(cfg), await handover(nc, cfg)
    await saver.restore(history, 0.0)
    for now in (0.0, 1.0, REFRESH_S - 1, REFRESH_S):
        history.record_pool("research", 3, 3, now)  # the same, busy, all along
        await saver.save(history, now)
    assert saver.writes == 2 + 1 + 1 + 2  # the pool at 0 and at REFRESH_S; `tick` each time
    assert REFRESH_S < TTL_S


async def test_a_pool_that_goes_stale_is_written_and_not_held_past_its_last_tick(
    nc: Client,
) -> None:
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    for t in range(0, 100):
        old.tick(float(t), research=8)
        await saver.save(old.history, float(t))
    for t in range(100, 150):  # NATS lag unreadable: the loop records nothing for the pool
        await saver.save(old.history, float(t))
    successor, _ = await take_over(nc, cfg, old, 150.0)

    assert successor.tick(398.0).desired == 8
    assert successor.tick(400.0).desired == 4  # 99 + 300 s: the last time it was recorded


async def test_garbage_in_the_bucket_is_ignored_counted_and_logged_once(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = fleet("research", "triage", "batch")
    old, saver = await leader(nc, cfg)
    for t in range(0, 100, 5):
        old.step(_observe(old, lag_at(t)), float(t))
        await saver.save(old.history, float(t))
    kv = await nc.jetstream().key_value(BUCKET)
    good = json.loads((await kv.get(key_of("research"))).value)
    bad: dict[str, bytes] = {
        key_of("triage"): b"\xff\xfe not utf-8",
        key_of("batch"): _doc(good, lows=[[float("nan"), 3]]),
        "pool.gone": _doc(good),  # a pool no longer in the config
        "pool_hex.zz": _doc(good),  # not a key this module writes
        "pool.research-2": b"{not json",
        "tick": b'{"v": 1, "at": "soon"}',
    }
    for key, value in bad.items():
        await kv.put(key, value)
    caplog.set_level(logging.WARNING, logger="agentdash.handover")

    successor, restored = await take_over(nc, cfg, old, 110.0)

    assert restored == 1  # research only
    decisions = {d.pool: d for d in successor.step(_observe(successor), 110.0)}
    assert decisions["research"].desired == 8
    # The pools whose values were refused decide as a new process would: never lower.
    assert decisions["triage"].desired == decisions["batch"].desired == 4
    warnings = [r for r in caplog.records if r.name == "agentdash.handover"]
    assert len(warnings) == 1
    said = warnings[0].getMessage()
    assert said.startswith(
        "history: ignored 3 value(s) in agentdash_history: tick: at: Input should be a valid"
    )
    assert len(said) < 400  # one readable line, whatever the times in the bucket
    # A removed pool's key is no warning: it goes by itself (it repeated at every takeover
    # for a day, and a forged value of a pool it scales was named after it, or not at all).
    assert "pool.gone" not in said


_LEVEL = {"replicas": 1, "in_use": False, "last_used": 80.0, "peak": 1, "gaps": [40.0]}


def learner() -> Config:
    """A pool on the default behavior: it learns its keep-alive from its gaps."""
    return config({"research": pool("acme", max_replicas=10, target_lag_per_replica=2)})


async def test_a_successor_holds_as_the_old_leaders_learned_gaps_say(nc: Client) -> None:
    cfg = learner()
    old, saver = await leader(nc, cfg)
    now = 0.0
    for _ in range(6):  # 30 s bursts of 8 tasks, each after a quiet 50 s
        for t in range(80):
            old.tick(now + t, research=8 if t < 30 else 0)
            await saver.save(old.history, now + t)
        now += 80
    for t in range(30):
        old.tick(now + t, research=8)
        await saver.save(old.history, now + t)
    successor, restored = await take_over(nc, cfg, old, now + 40)
    fresh = Loop(cfg)
    fresh.replicas = dict(old.replicas)

    assert restored == 1
    mine = old.tick(now + 40)
    theirs = successor.tick(now + 40)
    assert theirs == mine
    learned, taken = keeps(old, successor)
    assert (
        list(taken.wakes.heads) == list(learned.wakes.heads) == [4] * 6
    )  # what its wakes from zero met
    assert theirs.desired == 4  # held through the quiet minute the pool has learned
    assert "their last 6 gaps (median 51 s)" in theirs.main_reason.detail
    assert "no pattern yet" in fresh.tick(now + 40).main_reason.detail  # without the bucket


async def test_a_successor_prices_a_miss_by_the_task_time_the_old_leader_measured(
    nc: Client,
) -> None:
    cfg = learner()
    old, saver = await leader(nc, cfg)
    for t in range(60):  # 2 s tasks: a pod takes 10 in a 20 s cold start
        busy = t < 30
        pace = Pace(task_s=2.0, rate=None)
        old.history.record_pool("research", 4 if busy else 0, 8 if busy else 0, float(t), pace)
        await saver.save(old.history, float(t))
    successor, restored = await take_over(nc, cfg, old, 65.0)
    assert restored == 1
    learned, taken = keeps(old, successor)
    assert learned.taken == taken.taken == 10.0
    assert taken.level_miss() == learned.level_miss() == 20.0 * (1 + 10 / 2)


async def test_a_successor_holds_for_the_tail_the_old_leader_counted(nc: Client) -> None:
    cfg = one_waking_pool()
    old, saver = await leader(nc, cfg)
    now = 0.0
    for k in range(2 * MIN_CYCLES):  # a task at a time, each after a quiet 100-240 s
        quiet = 100 + (k * 37) % 140
        for t in range(10 + quiet):
            lag = 1 if t < 10 else 0
            pace = Pace(task_s=5.0, rate=1 / 30 if t < 30 else 0.0, lag=lag)
            old.history.record_pool("chat", lag, lag, now + t, pace)
        await saver.save(old.history, now + 10 + quiet)
        now += 10 + quiet
    successor, restored = await take_over(nc, cfg, old, now)
    assert restored == 1
    learned = old.history.pools["chat"].keep
    taken = successor.history.pools["chat"].keep
    assert learned is not None
    assert taken is not None
    assert list(taken.tail.cycles) == list(learned.tail.cycles)
    assert len(taken.tail.cycles) == 2 * MIN_CYCLES - 1
    (first,) = [plan for plan in taken.plans() if plan.tail is not None]
    assert first.hold_s == learned.plans()[0].hold_s > 240.0  # through the quiet spells
    assert first.tail == 1.0  # the ski rental let every task meet a cold start


async def test_a_successor_prices_an_idle_level_as_the_old_leader_let_it_go(
    nc: Client,
) -> None:
    """A level let go keeps the price its plan was made at (KeepAlive.plans), though a level
    taken up later moved the pool's: so does the successor's, or a failover would remake its
    plan at the new price."""
    cfg = config(
        {"research": pool("acme", max_replicas=20, target_lag_per_replica=2, concurrency=4)}
    )
    old, saver = await leader(nc, cfg)
    paced = [(0.0, 0, None), (1.0, 12, Pace(task_s=2.0, rate=12.0)), (60.0, 0, None)]
    paced.append((100.0, 2, Pace(task_s=2.0, rate=1.0)))  # the price moves: 10 -> 5 a pod
    for t, value, pace in paced:
        old.history.record_pool("research", value, value, t, pace)
        keep = old.history.pools["research"].keep
        assert keep is not None
        keep.hold(t + 0.5, value, value)  # a claim: the levels in use are priced
        await saver.save(old.history, t + 0.5)
    successor, restored = await take_over(nc, cfg, old, 105.0)
    assert restored == 1
    learned, taken = keeps(old, successor)
    twelve = next(k for k, level in enumerate(learned.levels) if level.replicas == 12)
    assert learned.plans()[twelve].miss_s == 20.0 * (1 + 10)
    assert taken.plans()[twelve] == learned.plans()[twelve]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"lows": [[1.0, 2]] * (MAX_ENTRIES + 1)}, "lows: List should have at most"),
        ({"highs": [[1.0, -2]]}, "highs.0.1: Input should be greater than or equal to 0"),
        ({"steps": [[1.0, 10**12]]}, "steps.0.1: Input should be less than or equal to"),
        ({"busy_at": "1.0"}, "busy_at: Input should be a valid number"),
        ({"at": 1e12}, "s after now, more than 86400 s"),  # not a skew: another era
        ({"v": 2}, "v: format 2, newer than the 1 this agentdash reads"),
        ({"v": "1"}, "v: Input should be 1"),
        (
            {
                "keep": {
                    "value": 1,
                    "latest": 90.0,
                    "held": [],
                    "levels": [_LEVEL | {"gaps": [-3.0]}],
                }
            },
            "keep.levels.0.gaps.0: Input should be greater than 0",
        ),
        (
            {
                "keep": {
                    "value": 1,
                    "latest": 90.0,
                    "held": [],
                    "levels": [_LEVEL | {"gaps": [float("inf")]}],
                }
            },
            "keep.levels.0.gaps.0: Input should be",
        ),
        (
            {
                "keep": {
                    "value": 1,
                    "latest": 90.0,
                    "held": [],
                    "levels": [_LEVEL | {"share": float("nan")}],
                }
            },
            "keep.levels.0.share: Input should be a finite number",
        ),
        (
            {"keep": {"value": 1, "latest": 90.0, "held": [], "levels": [_LEVEL] * 200}},
            "keep.levels: List should have at most 128 items",
        ),
        (
            {"keep": {"value": 1, "latest": 90.0, "held": [], "levels": [], "heads": [-1]}},
            "keep.heads.0: Input should be greater than or equal to 0",
        ),
        (
            {"keep": {"value": 1, "latest": 90.0, "held": [], "levels": [], "taken": -1.0}},
            "keep.taken: Input should be greater than or equal to 0",
        ),
        (
            {"keep": {"value": 1, "latest": 90.0, "held": [], "levels": [], "taken": 1e12}},
            "keep.taken: Input should be less than or equal to",
        ),
    ],
)
async def test_each_kind_of_bad_value_is_refused_with_what_is_wrong(
    nc: Client, caplog: pytest.LogCaptureFixture, change: dict[str, Any], why: str
) -> None:
    cfg = fleet()
    good = {"v": 1, "at": 90.0, "live": True, "busy_at": 50.0, "lows": [[90.0, 0]],
            "highs": [[55.0, 8], [90.0, 0]], "steps": [[0.0, 8]]}  # fmt: skip
    saver = await handover(nc, cfg)
    kv = await nc.jetstream().key_value(BUCKET)
    await kv.put(key_of("research"), _doc(good, **change))
    caplog.set_level(logging.WARNING, logger="agentdash.handover")

    history = History(cfg)
    assert await saver.restore(history, 100.0) == 0
    assert saver.bad.counts["handover"] == 1
    assert why in caplog.records[-1].getMessage()
    assert history.pools == {}


async def test_a_huge_value_is_refused_by_the_bucket(nc: Client) -> None:
    await handover(nc, fleet())
    kv = await nc.jetstream().key_value(BUCKET)
    with pytest.raises(nats.js.errors.BadRequestError, match="message size"):
        await kv.put(key_of("research"), b"[" + b"0," * 400_000 + b"0]")


async def test_a_huge_value_in_a_bucket_made_elsewhere_is_refused_unread(nc: Client) -> None:
    cfg = fleet()
    kv = await nc.jetstream().create_key_value(bucket=BUCKET, history=1)  # with no bounds
    await kv.put(key_of("research"), b"[" + b"0," * 400_000 + b"0]")
    saver = await handover(nc, cfg)
    history = History(cfg)
    assert await saver.restore(history, 100.0) == 0
    assert saver.bad.counts["handover"] == 1


async def test_restoring_twice_or_into_a_followers_history_counts_each_step_once(
    nc: Client,
) -> None:
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    follower = History(cfg)  # watched all along: its own windows, but no steps of its own
    for t in range(0, 370, 5):
        obs = observe(research=(lag_at(t), 0, old.replicas["research"]))
        follower.record_tick(decide(cfg, obs, history=follower, now=float(t)), obs, float(t))
        old.tick(float(t), research=lag_at(t))
        await saver.save(old.history, float(t))
    assert old.replicas["research"] == 4  # stepped down once, at 360 s
    successor = Loop(cfg)
    successor.history, successor.replicas = follower, dict(old.replicas)
    reader = await handover(nc, cfg)
    await reader.restore(follower, 370.0)
    await reader.restore(follower, 370.0)

    assert follower.pools["research"].steps == old.history.pools["research"].steps
    assert successor.tick(375.0) == old.tick(375.0)  # 4 held until a minute has passed
    assert successor.tick(420.0) == old.tick(420.0)
    assert old.replicas["research"] == 2


async def test_saves_while_nats_is_down_are_skipped_and_the_next_one_catches_up(
    nats_server: NatsServer, nc: Client
) -> None:
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    old.tick(0.0, research=8)
    await saver.save(old.history, 0.0)
    nats_server.stop()
    for t in range(1, 60):
        old.tick(float(t), research=lag_at(t))
        await saver.save(old.history, float(t))  # returns: nothing to reach
    nats_server.start()
    await eventually(lambda: nc.is_connected, timeout=15)
    old.tick(60.0)  # the lag is gone: a change
    await saver.save(old.history, 60.0)

    successor, _ = await take_over(nc, cfg, old, 70.0)
    assert successor.tick(358.0).desired == 8  # 59 + 300 s


async def test_after_nats_lost_its_store_a_successor_still_holds_8(
    nats_server: NatsServer, nc: Client
) -> None:
    """A nats-server restarted without its store (an emptyDir, a new volume) has no bucket:
    the leader makes it again and writes every pool there (it logged a failed restore every
    tick and saved nothing more, and a successor dropped 8 to 4 in the window)."""
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    for t in range(0, 30, 5):
        old.tick(float(t), research=8)
        await saver.save(old.history, float(t))
    nats_server.stop()
    shutil.rmtree(nats_server.store_dir / "jetstream")
    nats_server.start()
    await eventually(lambda: nc.is_connected, timeout=15)
    for t in range(30, 100, 5):
        old.tick(float(t), research=lag_at(t))
        await saver.save(old.history, float(t))

    successor, restored = await take_over(nc, cfg, old, 110.0)
    assert restored == 1
    assert successor.tick(110.0).desired == 8


async def test_a_leader_that_could_not_read_the_bucket_writes_nothing_until_it_has(
    nats_server: NatsServer, nc: Client
) -> None:
    cfg = fleet()
    old, saver = await leader(nc, cfg)
    for t in range(0, 60, 5):
        old.tick(float(t), research=8)
        await saver.save(old.history, float(t))
    successor = Loop(cfg)
    successor.replicas = dict(old.replicas)
    reader = await handover(nc, cfg)
    reader.timeout = 0.2
    nats_server.stop()
    assert await reader.restore(successor.history, 70.0) == 0  # within its timeout
    nats_server.start()
    await eventually(lambda: nc.is_connected, timeout=15)
    assert successor.tick(70.0).desired == 4  # decided alone (the lease needs NATS too: rare)
    await reader.save(successor.history, 70.0)  # reads the bucket first, then writes

    held = successor.tick(100.0)
    assert held.desired == 4  # the old leader's 8 is in its window now: no lower
    assert held.main_reason.rule == "stabilization"
    third = History(cfg)
    await (await handover(nc, cfg)).restore(third, 100.0)
    assert third.pools["research"].highest_since(0.0) == (55.0, 8)  # not overwritten


def test_pool_names_that_a_key_cannot_hold_are_written_in_hex() -> None:
    for name in ("research", "a_b-c=d", "ünï côdé", "a.b", "*", ">", "x y"):
        assert pool_of(key_of(name)) == name
    assert key_of("research") == "pool.research"
    assert key_of("a.b").startswith("pool_hex.")


def _doc(base: dict[str, Any], **change: Any) -> bytes:
    return json.dumps({**base, **change}).encode()


def _observe(loop: Loop, lag: int = 0) -> Observations:
    """Every pool of `loop` with this lag, at the replicas it has."""
    return observe(**{name: (lag, 0, replicas) for name, replicas in loop.replicas.items()})
