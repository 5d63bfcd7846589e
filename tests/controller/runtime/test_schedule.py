"""When the loop ticks (TickSchedule), in-process on an injected clock: a fixed period that a
tick's cost does not push back, no burst after an overrun, a wake-up reads only its pools,
and backoff while a source fails."""

from __future__ import annotations

import asyncio

import pytest

from controller.runtime.schedule import MAX_BACKOFF_S, TickSchedule
from tests.support import FakeClock


def ticks(costs: list[float], interval: float = 1.0) -> list[float]:
    """The clock at the start of each tick, each tick costing its `costs` (the loop then
    waits what the schedule says)."""
    clock = FakeClock(0.0)
    schedule = TickSchedule(timer=clock)
    schedule.start()
    starts = []
    for cost in costs:
        assert schedule.begin_tick() is None  # due: every pool is read
        starts.append(clock())
        clock.advance(cost)
        clock.advance(max(0.0, schedule.end_tick(interval, failing=False)))
    return starts


def test_a_ticks_cost_does_not_push_the_next_one_back() -> None:
    assert ticks([0.3, 0.3, 0.3, 0.3]) == pytest.approx([0.0, 1.0, 2.0, 3.0])


def test_a_tick_that_overruns_is_followed_at_once_and_the_missed_ones_are_skipped() -> None:
    assert ticks([0.1, 2.5, 0.1, 0.1]) == pytest.approx([0.0, 1.0, 3.5, 4.5])


def test_a_wake_up_between_deadlines_reads_only_the_woken_pools_and_keeps_the_period() -> None:
    clock = FakeClock(0.0)
    schedule = TickSchedule(timer=clock)
    schedule.start()
    assert schedule.begin_tick() is None
    assert schedule.end_tick(1.0, failing=False) == 1.0

    clock.advance(0.4)
    schedule.wake("research")
    schedule.wake("chat")
    assert schedule.begin_tick() == {"research", "chat"}
    assert schedule.end_tick(1.0, failing=False) == pytest.approx(0.6)  # still due at 1.0

    clock.advance(0.6)
    assert schedule.begin_tick() is None  # due again: every pool


def test_a_failing_source_doubles_the_wait_up_to_the_most_and_recovery_ends_it() -> None:
    clock = FakeClock(0.0)
    schedule = TickSchedule(timer=clock)
    schedule.start()
    waits = []
    for _ in range(6):
        schedule.begin_tick()
        waits.append(schedule.end_tick(1.0, failing=True))
        clock.advance(waits[-1])
    assert waits == [1.0, 2.0, 4.0, MAX_BACKOFF_S, MAX_BACKOFF_S, MAX_BACKOFF_S]

    schedule.begin_tick()
    assert schedule.end_tick(1.0, failing=False) == 1.0


async def test_a_wake_up_ends_the_pause_and_stop_ends_it_too() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.Event().wait()  # never of itself: only a wake-up or stop ends the pause

    schedule = TickSchedule(timer=FakeClock(), sleep=sleep)
    stop = asyncio.Event()
    pausing = asyncio.create_task(schedule.pause(stop, 30.0))
    await asyncio.sleep(0)
    schedule.wake("research")
    await asyncio.wait_for(pausing, timeout=5)

    schedule.begin_tick()
    pausing = asyncio.create_task(schedule.pause(stop, -1.0))  # overdue: no negative sleep
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(pausing, timeout=5)
    assert slept == [30.0, 0.0]


async def test_nats_back_ends_the_backoff_and_the_next_tick_reads_every_pool() -> None:
    """The lease is renewed at the first tick after NATS returns, not after up to 8 s."""

    async def sleep(seconds: float) -> None:
        await asyncio.Event().wait()  # only `now` (or stop) ends this pause

    clock = FakeClock(0.0)
    schedule = TickSchedule(timer=clock, sleep=sleep)
    schedule.start()
    for _ in range(4):
        schedule.begin_tick()
        wait = schedule.end_tick(1.0, failing=True)
        clock.advance(0.5)
    assert wait == MAX_BACKOFF_S
    pausing = asyncio.create_task(schedule.pause(asyncio.Event(), wait))
    await asyncio.sleep(0)
    schedule.now()  # NATS reconnected
    await asyncio.wait_for(pausing, timeout=5)
    assert schedule.begin_tick() is None  # due: every pool, and the lease
