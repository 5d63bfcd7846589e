"""Describe draws a part of its page again only when what that part shows changed: drawn anew
at every refresh, an idle Describe at 200x60 took three times the Fleet screen's CPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.widgets import Static

from agentdash.tui.describe import DescribeScreen
from tests.support.dashboard import make, screen_lines


async def test_describe_draws_a_part_again_only_when_it_changed(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "i")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DescribeScreen)
        drawn: list[str] = []
        for part in ("title", "describe", "decisions"):
            static = screen.query_one(f"#{part}", Static)
            update = static.update
            static.update = counted(update, part, drawn)  # type: ignore[method-assign]
        snapshot, log = app.feed.snapshot(), list(app.log_events)
        screen.show(snapshot, log)
        screen.show(snapshot, log)
        assert drawn == []
        pools = tuple(
            replace(row, pending=row.pending + 7) if row.name == screen.pool else row
            for row in snapshot.pools
        )
        screen.show(replace(snapshot, pools=pools), log)
        await pilot.pause()
        assert drawn == ["describe"]
        (pool,) = [row for row in snapshot.pools if row.name == screen.pool]
        assert any(f"lag {pool.lag + 7} " in line for line in screen_lines(app))


def counted(update: Callable[..., None], part: str, drawn: list[str]) -> Callable[..., None]:
    def draw(*args: Any, **kwargs: Any) -> None:
        drawn.append(part)
        update(*args, **kwargs)

    return draw
