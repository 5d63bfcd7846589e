"""The TREND column's sparkline (agentdash.tui.render.sparkline)."""

from __future__ import annotations

from agentdash.tui.render import sparkline


def test_lag_is_drawn_against_its_own_highest_and_right_aligned() -> None:
    assert sparkline((0, 4, 8), 5) == "   ▄█"


def test_a_stale_stretch_is_a_dotted_gap_not_zero_lag() -> None:
    # A blank is a lag of 0: a reading that could not be made must not look like one.
    assert sparkline((8, None, None, 0, 8), 5) == "█·· █"


def test_nothing_known_yet_is_blank() -> None:
    assert sparkline((), 3) == "   "
    assert sparkline((None, None), 3) == " ··"
