"""Each pool's timeline (controller.runtime.timeline): a point only where something moved, at
most one every STEP_S, the last hour kept, and what a loop's ticks record."""

from __future__ import annotations

from pathlib import Path

from controller.core.model import QueueStats
from controller.runtime.timeline import POINTS, STEP_S, WINDOW_S, Point, Timeline
from tests.support.dashboard import make_lively

T0 = 1_767_225_600.0


def test_a_quiet_pool_keeps_one_point_and_a_busy_one_at_most_an_hours_worth() -> None:
    timeline = Timeline()
    for k in range(2 * POINTS):
        now = T0 + k * STEP_S
        assert timeline.due(now)
        timeline.sample(now, [("quiet", Point(now, 2, 2, 2, 0)), ("busy", Point(now, k, k, k, k))])
        assert not timeline.due(now + STEP_S / 2)
    end = T0 + (2 * POINTS - 1) * STEP_S
    assert timeline.points("quiet", end) == [Point(T0, 2, 2, 2, 0)]  # in force all along
    busy = timeline.points("busy", end)
    assert len(busy) == POINTS
    assert busy[0].ts <= end - WINDOW_S < busy[1].ts  # the one in force at the window's start


async def test_a_loops_ticks_record_replicas_desired_ready_and_lag(tmp_path: Path) -> None:
    app = await make_lively(tmp_path)
    loop = app.feed.loop
    for lag in (0, 30, 30, 0):  # one tick every STEP_S
        loop.lag.lag = {p: QueueStats(lag, 0, 1.0) for p in loop.config.pools}  # type: ignore[attr-defined]
        loop.clock.now += STEP_S  # type: ignore[attr-defined]
        await loop.tick()
    points = loop.timeline.points("pool-0000", loop.clock())
    assert [p.lag for p in points][-2:] == [30, 0]  # the second 30 moved nothing: no point
    assert any(p.desired > 0 for p in points)
    assert all(p.ts <= loop.clock() for p in points)
