"""The dashboard at the sizes an operator's terminal has over SSH, where the 80x24 and 200x60
snapshots did not show what went wrong: a dialog's words at 80 to 100 columns, dialogs in a
terminal 10 rows high."""

from __future__ import annotations

from typing import Any

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


def test_pause_pool_dialog_at_40x10(snap_compare: Any, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), press=["x"], terminal_size=(40, 10))
