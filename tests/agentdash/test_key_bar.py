"""The key bar at the foot of every screen, as an operator uses it at 80x24: it shows the keys
that work where the focus is, a click on a key runs it, the wheel brings keys that did not fit
into view, and the key under the mouse is lit."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette

from agentdash.tui.footer import KeyBar
from agentdash.tui.pods import PodsScreen
from tests.support import eventually
from tests.support.dashboard import make, screen_lines

SMALL = (80, 24)


def bar_line(app: object) -> str:
    return screen_lines(app)[-1]  # type: ignore[arg-type]


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
        assert "Why" not in bar_line(app)
        assert bar_line(app).rstrip().endswith("^p Commands")
        for _ in range(30):
            wheel(bar, down=False)
        await eventually(lambda: bar_line(app) == first)


async def test_the_key_under_the_mouse_is_lit(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)

        def background_at(column: int) -> object:
            line = bar.render()
            assert isinstance(line, Text)
            return line.get_style_at_offset(app.console, column).bgcolor

        pods, help_ = bar_line(app).index("Pods"), bar_line(app).index("Help")
        unlit = background_at(pods)
        await pilot.hover(KeyBar, offset=(pods, 0))
        await eventually(lambda: background_at(pods) != unlit)
        assert background_at(help_) == unlit


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
