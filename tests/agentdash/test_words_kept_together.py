"""A length and its aside, and a change, stay on one line: at 80 to 100 columns the pin
confirmation asked "...for 2,880 min (2" with "d)?" alone on the next line, and Why ended a
step with "3 ->" and put the "6" it came to alone below."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdash.tui.describe import DescribeScreen
from agentdash.tui.modals import ConfirmationModal
from agentdash.tui.why import WhyScreen
from tests.support import eventually
from tests.support.dashboard import down_to, make, notes, screen_lines


@pytest.mark.parametrize("width", [80, 90, 100])
async def test_the_pin_confirmation_keeps_2_d_together(tmp_path: Path, width: int) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*down_to("initech-summarize"), "w", "backspace", "3")
        await pilot.press("tab", "2", "d", "enter")
        await eventually(lambda: isinstance(app.screen, ConfirmationModal))
        await pilot.pause()
        lines = screen_lines(app)
        assert any("2,880 min" in line for line in lines), "\n".join(lines)
        assert any("(2 d)?" in line for line in lines), "\n".join(lines)
        assert [line for line in lines if line.strip(" █").startswith("d)?")] == []


@pytest.mark.parametrize("width", [72, 76, 80])
async def test_why_keeps_a_change_on_one_line(tmp_path: Path, width: int) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        for pool in range(5):
            await pilot.press("f", "g", *["down"] * pool, "enter")
            await eventually(lambda: isinstance(app.screen, WhyScreen))
            await pilot.pause()
            lines = screen_lines(app)
            assert [line for line in lines if line.rstrip().endswith("->")] == [], pool


@pytest.mark.parametrize("width", [68, 84])
async def test_describe_keeps_a_change_on_one_line(tmp_path: Path, width: int) -> None:
    """Its last decisions ended a reason "...at most 6 now, 9 ->" at 84 columns."""
    app = await make(tmp_path)
    async with app.run_test(size=(width, 120)) as pilot:  # tall: the whole page on screen
        await pilot.pause()
        for pool in range(3):
            await pilot.press("f", "g", *["down"] * pool, "i")
            await eventually(lambda: isinstance(app.screen, DescribeScreen))
            await app.workers.wait_for_complete()
            await pilot.pause()
            lines = screen_lines(app)
            assert [line for line in lines if line.rstrip().endswith("->")] == [], pool


@pytest.mark.parametrize(
    ("width", "keys"),
    [(120, []), (84, ["down"]), (68, []), (66, ["tab"]), (66, ["e"])],
    ids=["fleet-120", "fleet-84", "fleet-68", "fleet-event-66", "events-66"],
)
async def test_a_detail_pane_keeps_a_change_on_one_line(
    tmp_path: Path, width: int, keys: list[str]
) -> None:
    """Fleet's pane under the table ended "...takes free room only: 8 ->" at 120 columns, and
    the selected event in full "...at most 6 now, 9 ->" at 66."""
    app = await make(tmp_path)
    async with app.run_test(size=(width, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        lines = screen_lines(app)
        assert [line for line in lines if line.rstrip().endswith("->")] == []


@pytest.mark.parametrize("width", [60, 80, 100])
async def test_the_pin_notice_keeps_2_d_together(tmp_path: Path, width: int) -> None:
    """At 60 columns the toast said "...for 2,880 min (2" and "d), by operator" below."""
    app = await make(tmp_path)
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*down_to("initech-summarize"), "w", "backspace", "3")
        await pilot.press("tab", "2", "d", "enter", "y")
        await eventually(lambda: "by operator" in "".join(notes(app)))
        lines = notes(app)[-1].splitlines()  # as the toast has them
        assert any("(2 d)," in line for line in lines), lines
        assert max(len(line) for line in lines) <= min(60, width // 2) - 3  # Textual's own fit
