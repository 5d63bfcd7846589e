"""A short terminal (ssh from a phone, a split tmux pane): at 40x10 the pin and pause dialogs'
minutes field and buttons were off the screen, and the Events screen showed none of its
rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.screen import ModalScreen

from agentdash.tui.events_view import EventsScreen
from tests.support import eventually
from tests.support.dashboard import make, screen_lines

DIALOGS = {
    "pin": ("w", ["replicas", "minutes", "Cancel", "Pin"]),
    "pause a pool": ("x", ["replicas", "minutes", "Cancel", "Pause"]),
    "pause a tenant": ("s", ["Pause tenant acme?", "Cancel", "Pause"]),
    "pause all": ("S", ["Pause the controller?", "Cancel", "Pause"]),
    "dry-run": ("d", ["Turn dry-run on?", "Cancel", "Dry-run on"]),
}


@pytest.mark.parametrize("dialog", list(DIALOGS))
async def test_a_dialog_shows_its_fields_and_buttons_at_40x10(tmp_path: Path, dialog: str) -> None:
    key, words = DIALOGS[dialog]
    app = await make(tmp_path)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        await pilot.press(key)
        await eventually(lambda: isinstance(app.screen, ModalScreen))
        await pilot.pause()
        shown = "\n".join(screen_lines(app))
        assert [word for word in words if word not in shown] == [], shown


EVENT_ROW = re.compile(r"\s*\d\d:\d\d:\d\d\s+\S+\s+\d+ → \d+")


async def test_events_at_40x10_shows_rows_of_its_table(tmp_path: Path) -> None:
    """Its filter field (3 rows) and the selected event in full (6) left none."""
    app = await make(tmp_path)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await eventually(lambda: isinstance(app.screen, EventsScreen))
        await pilot.pause()
        lines = screen_lines(app)
        assert len([line for line in lines if EVENT_ROW.match(line)]) >= 3, "\n".join(lines)
        assert any("filter" in line for line in lines)
