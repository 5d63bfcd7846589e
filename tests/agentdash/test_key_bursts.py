"""`/` or `:` and the words after it in one burst (typed quickly, pasted, or one SSH packet):
the words go to the filter or the palette's field; an operator's key and the values after it
go to its dialog's fields. They came before the field had the focus
and went to the table, where `e` opened Events again and the filter stayed empty; `:pin`
opened an empty palette."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import Input

from agentdash.tui.events_view import EventsScreen
from agentdash.tui.fleet import FleetScreen
from agentdash.tui.modals import ConfirmationModal
from tests.support import eventually
from tests.support.dashboard import POOLS, burst, make


@pytest.mark.parametrize("screen", ["fleet", "events"])
async def test_slash_then_words_in_one_burst_filter_by_them(tmp_path: Path, screen: str) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        if screen == "events":
            await pilot.press("e")
            await eventually(lambda: isinstance(app.screen, EventsScreen))
        shown = app.screen
        await burst(pilot, "slash", *"acme")
        field = shown.query_one("#filter", Input)
        await eventually(lambda: field.value == "acme")
        assert app.screen is shown
        assert isinstance(shown, FleetScreen | EventsScreen)


async def test_slash_in_the_filter_is_a_letter_of_it(tmp_path: Path) -> None:
    """The rules say `/ 2 per replica`: `/` typed in the field filters by it."""
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await eventually(lambda: isinstance(app.screen, EventsScreen))
        await pilot.press("slash", *"5 pods ", "slash", *" 5 s")
        field = app.screen.query_one("#filter", Input)
        await eventually(lambda: field.value == "5 pods / 5 s")


async def test_colon_then_words_in_one_burst_look_for_them(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await burst(pilot, "colon", *"pin")
        await eventually(lambda: isinstance(app.screen, CommandPalette))
        field = app.screen.query_one(Input)
        await eventually(lambda: field.value == "pin")
        assert [type(s) for s in app.screen_stack[1:]] == [FleetScreen, CommandPalette]


async def test_colon_in_the_filter_is_a_letter_of_it(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"tenant", "colon", *"acme")
        field = app.screen.query_one("#filter", Input)
        await eventually(lambda: field.value == "tenant:acme")
        assert isinstance(app.screen, FleetScreen)


async def test_w_then_a_count_in_one_burst_pins_that_count(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await burst(pilot, "w", "3", "tab", "2", "enter")
        await eventually(lambda: isinstance(app.screen, ConfirmationModal))
        question = str(app.screen.query_one("#question").render())
        assert "at 3 warm replicas for 2 min?" in question, question


async def test_down_then_w_in_one_burst_pins_the_pool_moved_to(tmp_path: Path) -> None:
    """An operator's key is read in its turn: `w` run ahead of the `down` before it pinned the
    pool above the one chosen."""
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await burst(pilot, "down", "w", "2", "enter")
        await eventually(lambda: isinstance(app.screen, ConfirmationModal))
        question = str(app.screen.query_one("#question").render())
        assert f"Pin {POOLS[1]} at 2 warm replicas" in question, question
