"""The dashboard at the sizes an operator's terminal has over SSH, where the 80x24 and 200x60
snapshots did not show what went wrong: a dialog's words at 80 to 100 columns, dialogs in a
terminal 10 rows high; and without color (NO_COLOR=1)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from textual.pilot import Pilot

from agentdash.tui.tenants import TenantsScreen
from tests.support.dashboard import down_to
from tests.support.snapshots import AppFactory

PIN_2_DAYS = [*down_to("initech-summarize"), "w", "backspace", "3", "tab", "2", "d", "enter"]


def test_pin_confirmation_at_90(snap_compare: Any, make_app: AppFactory) -> None:
    """ "...for 2,880 min" then "(2 d)?" on the next line, never "(2" and "d)?"."""
    assert snap_compare(make_app(), press=PIN_2_DAYS, terminal_size=(90, 24))


def test_pin_dialog_at_40x10(snap_compare: Any, make_app: AppFactory) -> None:
    """The fields and buttons without their borders, all on screen."""
    assert snap_compare(make_app(), press=["w"], terminal_size=(40, 10))


def test_pin_dialog_refusal_at_40x10(snap_compare: Any, make_app: AppFactory) -> None:
    """The refusal's words push the buttons down: the dialog scrolls."""
    assert snap_compare(make_app(), press=["w", "backspace", "enter"], terminal_size=(40, 10))


def test_confirmation_at_40x10(snap_compare: Any, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), press=["s"], terminal_size=(40, 10))


def test_events_at_40x10(snap_compare: Any, make_app: AppFactory) -> None:
    """The filter on one line, the selected event in three: rows of the table between."""
    assert snap_compare(make_app(), press=["e"], terminal_size=(40, 10))


def test_tenants_at_60x20(snap_compare: Any, make_app: AppFactory) -> None:
    """No bar at 60 columns, and the title does not explain one (it was cut at "LEFT:")."""
    assert snap_compare(make_app(), press=["t"], terminal_size=(60, 20))


def test_pause_pool_dialog_at_40x10(snap_compare: Any, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), press=["x"], terminal_size=(40, 10))


async def spend_globex(pilot: Pilot[None]) -> None:
    """Tenants, globex's budget spent (10,702 tokens over), as a refresh would show it."""
    app = pilot.app
    await pilot.pause()
    await pilot.press("t")
    snapshot = app.feed.snapshot()  # type: ignore[attr-defined]
    tenants = tuple(
        replace(t, tokens_today=(t.budget or 0) + 10_702) if t.name == "globex" else t
        for t in snapshot.tenants
    )
    assert isinstance(app.screen, TenantsScreen)
    app.screen.show(replace(snapshot, tenants=tenants), [])
    await pilot.pause()


def test_spent_budget_without_color(
    snap_compare: Any, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """globex's bar, full, in white: in red made grey it was as dark as the table under it."""
    monkeypatch.setenv("NO_COLOR", "1")  # Textual reads it as the app is made
    assert snap_compare(make_app(), run_before=spend_globex, terminal_size=(100, 12))
