"""The tail of a pool's waits (controller.core.tail): a pool whose wakes would make more than
one task in twenty wait a cold start holds its last replica through the gaps that bring them
under, where that takes at most 300 s; the hold is in the reasons; it survives a failover."""

from __future__ import annotations

import re

import pytest

import controller.core.tail as tail_module
from controller.core.tail import MIN_CYCLES, TAIL_HOLD_S, TAIL_SHARE, Cycle, Tail
from controller.simulate.backtest import make_scaler
from controller.simulate.shell import VirtualLoop
from tests.support.builders import p95, replay, waking_bursts
from tests.support.fleets import one_waking_pool


def test_arrivals_are_counted_at_the_rate_read_before_and_a_wake_by_its_head() -> None:
    tail = Tail()
    tail.see(0.0, 0.5, 0)
    tail.see(10.0, 0.1, 0)  # 10 s at 0.5 a second
    tail.see(10.0, None, None)  # recorded again as of now, without a reading: nothing more
    tail.see(40.0, None, 1)  # 30 s at 0.1 a second; a task arrives, the pool wakes
    assert tail.arrived == pytest.approx(8.0)
    tail.cycle(gap_s=60.0, now=40.0, cold_start=20.0)
    tail.see(45.0, 0.2, 3)  # the burst's head grows while a replica starts
    tail.see(61.0, 0.2, 5)  # after the cold start: served by then, not counted
    assert list(tail.cycles) == [Cycle(gap_s=60.0, arrived=8.0, waited=3.0)]
    assert tail.arrived == pytest.approx(0.1 * 5 + 0.2 * 16)


def test_the_hold_covers_the_gaps_that_bring_the_share_under_one_in_twenty() -> None:
    tail = Tail()
    gaps = [30.0 + 10 * k for k in range(MIN_CYCLES - 1)] + [250.0]
    for gap in gaps:
        tail.cycles.append(Cycle(gap_s=gap, arrived=2.0, waited=1.0))  # 20 wakes, 40 tasks
    assert tail.share(22.0) == pytest.approx(0.5)  # a cold start's hold misses every gap
    hold = tail.hold(22.0)
    assert hold is not None
    longer, before = hold
    assert before == pytest.approx(0.5)
    assert longer == pytest.approx(gaps[-3] * 1.1)  # the two longest gaps: 2 of 40 tasks
    assert tail.share(longer) == pytest.approx(TAIL_SHARE)


def test_the_hold_reads_the_newest_100_cycles_alone() -> None:
    """Cycles counted while holds are asked: the oldest are forgotten as new ones come."""
    tail = Tail()
    now = 0.0
    for gap in [250.0] * 30 + [40.0 + k for k in range(100)]:  # one task a wake, each waiting
        now += gap
        tail.cycle(gap_s=gap, now=now, cold_start=20.0)
        tail.hold(22.0)
    assert tail.cycles[0].gap_s == 40.0  # the 30 cycles of 250 s are forgotten
    hold = tail.hold(22.0)
    assert hold is not None
    assert hold[0] == pytest.approx((40.0 + 94) * 1.1)  # 95 of the 100: 5 tasks of 100 left


def test_nothing_is_held_for_the_tail_before_twenty_cycles_or_beyond_300_s() -> None:
    few = Tail()
    for gap in (30.0, 40.0, 50.0):
        few.cycles.append(Cycle(gap_s=gap, arrived=1.0, waited=1.0))
    assert few.hold(22.0) is None  # three wakes cannot tell one task in twenty
    sparse = Tail()
    for k in range(MIN_CYCLES):
        sparse.cycles.append(Cycle(gap_s=400.0 + k, arrived=1.0, waited=1.0))
    assert sparse.hold(22.0) is None  # KEDA and the HPA would be at zero by then too
    assert TAIL_HOLD_S == 300.0


def test_a_pool_that_keeps_waking_holds_its_replica_and_its_p95_is_not_a_cold_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = one_waking_pool()
    tasks = waking_bursts(cfg, "chat", seed=1, quiet=0.02, hours=48)
    held = replay(cfg, tasks, make_scaler("agentdash", cfg))
    keda = replay(cfg, tasks, make_scaler("keda", cfg))
    monkeypatch.setattr(tail_module, "TAIL_SHARE", 1.0)  # the ski rental alone
    alone = replay(cfg, tasks, make_scaler("agentdash", cfg))
    assert p95(alone, tasks) == pytest.approx(20.0, abs=0.5)  # the cold start
    assert p95(held, tasks) == 0.0
    assert p95(keda, tasks) > 30  # its 30 s poll from zero, then the cold start
    assert held.pod_seconds < 1.1 * keda.pod_seconds


def test_a_pool_whose_quiet_spells_are_its_tail_is_not_held_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One burst in ten after half an hour of quiet: its head waits a cold start whatever is
    # held for 300 s, so holding for the tail would buy no p95.
    cfg = one_waking_pool()
    tasks = waking_bursts(cfg, "chat", seed=1, quiet=0.15, hours=48)
    held = replay(cfg, tasks, make_scaler("agentdash", cfg))
    monkeypatch.setattr(tail_module, "TAIL_SHARE", 1.0)
    alone = replay(cfg, tasks, make_scaler("agentdash", cfg))
    assert p95(held, tasks) == p95(alone, tasks) == pytest.approx(20.0, abs=0.5)
    assert held.pod_seconds < 1.02 * alone.pod_seconds


def test_the_reasons_say_the_tail_held_the_replica() -> None:
    cfg = one_waking_pool()
    tasks = waking_bursts(cfg, "chat", seed=1, quiet=0.02, hours=6)
    loop = VirtualLoop(cfg, explain=True)
    replay(cfg, tasks, loop)
    assert loop.explained is not None
    said = [r.detail for e in loop.explained for r in e.reasons if r.rule == "keep-alive"]
    tailed = [text for text in said if "held for the tail" in text]
    assert tailed, said[-3:]
    assert re.search(
        r"-> \d+ \(held for the tail: the cheapest hold would leave \d+\.\d% of its "
        r"tasks to a cold start, more than the 5% a p95 leaves out\)$",
        tailed[0],
    ), tailed[0]
