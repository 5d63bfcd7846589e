"""Why shows the whole decision at 80x24 while the pool's events keep a row: a decision with a
latency objective lost its main reason and what comes next below the fold of a body that no
key scrolls (the keys move the events' table), over a table of one event."""

from __future__ import annotations

from pathlib import Path

from agentdash.tui.why import WhyScreen
from tests.support import eventually
from tests.support.dashboard import make_with_target_wait, screen_lines


async def test_why_at_80x24_shows_the_main_reason_next_and_an_event(tmp_path: Path) -> None:
    app = await make_with_target_wait(tmp_path, 10)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await eventually(lambda: isinstance(app.screen, WhyScreen))
        await pilot.pause()
        lines = screen_lines(app)
        shown = "\n".join(lines)
        assert "latency objective" in shown, shown
        assert any(line.startswith(" Main reason:") for line in lines), shown
        assert any(line.startswith(" Next:") for line in lines), shown
        assert any("max_replicas 6: 8 -> 6" in line for line in lines), shown
