"""The key bar at the foot of every screen, as an operator uses it at 80x24: it shows the keys
that work where the focus is, a click on a key runs it, the wheel brings keys that did not fit
into view, and the key under the mouse is lit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette

from agentdash.tui.footer import KeyBar, ShownKey, layout
from agentdash.tui.pods import PodsScreen
from tests.support import eventually
from tests.support.dashboard import make, screen_lines

SMALL = (80, 24)


def bar_line(app: App[Any]) -> str:
    return screen_lines(app)[-1]


async def test_the_bar_follows_the_focus_and_the_screen(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        fleet_keys = bar_line(app)
        assert "q Quit" in fleet_keys
        # While a filter is typed, only the filter's key and the palette's are live.
        for keys, quit_shown in ((["slash"], False), (["enter"], True), (["p"], True),
                                 (["escape"], True), (["slash"], False)):  # fmt: skip
            await pilot.press(*keys)
            await eventually(lambda q=quit_shown: ("q Quit" in bar_line(app)) == q)  # type: ignore[misc]
        await pilot.press("enter")
        await eventually(lambda: bar_line(app) == fleet_keys)


async def test_a_click_on_a_key_runs_it(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.click(KeyBar, offset=(bar_line(app).index("Pods"), 0))
        await eventually(lambda: isinstance(app.screen, PodsScreen))
        await pilot.click(KeyBar, offset=(bar_line(app).index("Commands"), 0))
        await eventually(lambda: isinstance(app.screen, CommandPalette))


def wheel(bar: KeyBar, down: bool) -> None:
    kind = events.MouseScrollDown if down else events.MouseScrollUp
    bar.post_message(
        kind(widget=bar, x=1, y=0, delta_x=0, delta_y=1 if down else -1, button=0,
             shift=False, meta=False, ctrl=False)
    )  # fmt: skip


async def test_the_wheel_brings_the_keys_that_did_not_fit_into_view(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        first = bar_line(app)
        assert "Dry-run" not in first
        assert first.rstrip().endswith("^p Commands")
        for _ in range(30):
            wheel(bar, down=True)
        await eventually(lambda: "Dry-run" in bar_line(app))
        # Scrolled to the end, not past it: the last keys fill the bar.
        assert bar_line(app).startswith(" u Unpin  s Pause tenant")
        assert bar_line(app).rstrip().endswith("d Dry-run     ▏^p Commands")
        for _ in range(30):
            wheel(bar, down=False)
        await eventually(lambda: bar_line(app) == first)


async def test_keys_scrolled_away_come_back_when_the_terminal_widens(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        for _ in range(30):
            wheel(bar, down=True)
        await eventually(lambda: "Why" not in bar_line(app))
        await pilot.resize_terminal(200, 24)
        await eventually(lambda: bar_line(app).startswith(" ⏎ Why  ? Help  q Quit"))
        assert "d Dry-run" in bar_line(app)


async def test_no_key_is_cut_short_at_80_columns_on_any_screen(tmp_path: Path) -> None:
    """A key that does not fit whole before the palette's key is left for the wheel: "e ▏"
    with its description cut off read as a key of its own."""
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        for key in ("f", "p", "e", "t", "exclamation_mark", "enter", "escape", "i"):
            await pilot.press(key)
            await pilot.pause()
            bar = app.screen.query_one(KeyBar)
            line = bar_line(app)
            keys, _, palette = line.partition("▏")
            assert palette.strip() == "^p Commands", line
            for placed in bar._layout()[:-1]:
                shown = placed.shown
                assert f" {shown.display} {shown.description} " in keys, (key, line)
            # The first key left out is not drawn in part either.
            assert keys.rstrip().endswith(bar._layout()[-2].shown.description), (key, line)


def test_on_a_bar_narrower_than_the_palettes_key_nothing_is_placed_off_it() -> None:
    keys = [ShownKey(key="q", display="q", description="Quit", enabled=True, tooltip="")]
    palette = ShownKey(key="ctrl+p", display="^p", description="Commands", enabled=True,
                       tooltip="")  # fmt: skip
    for columns in (0, 5, 13, 14, 20, 80):
        placed = layout(keys, palette, columns)
        assert all(0 <= p.start <= p.end <= max(columns, 0) for p in placed), columns
        assert placed[-1].shown == palette
    assert [(p.start, p.end) for p in layout(keys, palette, 80)] == [(0, 8), (67, 80)]


async def test_the_key_under_the_mouse_is_lit_and_says_what_it_does(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(200, 24)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)

        def background_at(column: int) -> object:
            line = bar.render()
            assert isinstance(line, Text)
            return line.get_style_at_offset(app.console, column).bgcolor

        pause_all, help_ = bar_line(app).index("Pause all"), bar_line(app).index("Help")
        blank = bar_line(app).index("Dry-run") + 20
        unlit = background_at(pause_all)
        await pilot.hover(KeyBar, offset=(pause_all, 0))
        await eventually(lambda: background_at(pause_all) != unlit)
        assert background_at(help_) == unlit
        assert bar.tooltip is not None
        assert "whole controller" in str(bar.tooltip)
        await pilot.hover(KeyBar, offset=(blank, 0))
        await eventually(lambda: background_at(pause_all) == unlit)
        assert bar.tooltip is None


class DisabledKey(App[None]):
    """An app whose one key is shown but disabled, as a screen's `check_action` can make it."""

    BINDINGS = [Binding("x", "go", "Go")]  # noqa: RUF012  (Textual declares bindings so)

    def __init__(self) -> None:
        super().__init__()
        self.rung = 0

    def compose(self) -> ComposeResult:
        yield KeyBar()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action == "go" else True

    def bell(self) -> None:
        self.rung += 1


async def test_a_disabled_key_is_dim_and_a_click_on_it_rings_the_bell() -> None:
    app = DisabledKey()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        line = bar.render()
        assert line.plain.startswith(" x Go ")
        assert line.get_style_at_offset(app.console, 1).dim
        await pilot.click(KeyBar, offset=(1, 0))
        await eventually(lambda: app.rung == 1)
