"""The newest scale event is never pushed out of view: Fleet's recent list and Events follow
the newest while their cursor is on it, and count what came above a row the operator chose.

A sample fleet's real controller (ten pools that follow their lag at once) runs on for minutes
of virtual time with shifting queues, far more scale events than the lists keep, the dashboard
refreshed after every tick."""

from __future__ import annotations

import random
from pathlib import Path

from agentdash.tui.app import AgentDashApp
from agentdash.tui.table import KeyedTable
from controller.core.events import ScaleEvent
from controller.core.model import QueueStats
from tests.support.dashboard import make_lively, screen_lines

SMALL = (80, 24)


async def run_on(app: AgentDashApp, seconds: int, seed: int = 3) -> None:
    """The fleet's controller ticks on for `seconds` (one a second), its queues shifting."""
    loop = app.feed.loop
    rng = random.Random(seed)
    for _ in range(seconds):
        loop.lag.lag = {  # type: ignore[attr-defined]
            pool: QueueStats(rng.choice((0, 0, 3, 12, 40)), 0, rng.uniform(0, 2))
            for pool in loop.config.pools
        }
        await loop.tick()
        loop.clock.now += 1.0  # type: ignore[attr-defined]
        app.refresh_feed()


def newest_scale(app: AgentDashApp) -> ScaleEvent:
    return [e for e in app.log_events if isinstance(e, ScaleEvent) and not e.dry_run][-1]


def top_row(table: KeyedTable) -> str:
    return table.render_line(1).text


async def test_fleets_recent_list_always_shows_the_newest_scale_first(tmp_path: Path) -> None:
    app = await make_lively(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        recent = app.screen.query_one("#recent", KeyedTable)
        scaled = 0
        for _ in range(12):  # two minutes
            await run_on(app, 10)
            await pilot.pause()
            newest = newest_scale(app)
            assert recent.keys[0] == recent.selected  # following the newest
            assert newest.pool in top_row(recent)
            assert f"{newest.old} → {newest.new}" in top_row(recent)
            scaled = sum(isinstance(e, ScaleEvent) for e in app.log_events)
        assert scaled > 100  # far more than the 50 the list keeps
        recent.focus()  # tab to it, then read an older one
        await pilot.press("j", "j")
        chosen = recent.selected
        await run_on(app, 2)  # fewer new than the 50 kept: the row read stays in the list
        await pilot.pause()
        assert recent.selected == chosen
        assert recent.unseen > 0
        assert any(f"↑ {recent.unseen} new (g)" in line for line in screen_lines(app))
        await pilot.press("g")
        assert (recent.cursor_row, recent.unseen) == (0, 0)


async def test_events_follows_the_newest_until_the_operator_moves(tmp_path: Path) -> None:
    app = await make_lively(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("e")
        await pilot.pause()
        events = app.screen.query_one("#events", KeyedTable)
        for _ in range(6):  # a minute
            await run_on(app, 10)
            await pilot.pause()
            assert events.cursor_row == 0
            assert events.selected == events.keys[0]
            assert "new" not in events.render_line(0).text
        await pilot.press("j", "j")
        chosen = events.selected
        await run_on(app, 30)
        await pilot.pause()
        assert events.selected == chosen  # the row the operator reads stays put
        assert events.unseen > 0
        assert f"↑ {events.unseen} new (g)" in events.render_line(0).text
        await pilot.press("g")
        await run_on(app, 10)
        await pilot.pause()
        assert (events.cursor_row, events.unseen) == (0, 0)
        assert "new" not in events.render_line(0).text
