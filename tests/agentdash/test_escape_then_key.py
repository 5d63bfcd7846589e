"""`esc` and a key sent in one burst (a quick typist over SSH, tmux's send-keys) arrive as the
one sequence Alt+key is: each still does what it does typed alone."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from agentdash.tui.app import AgentDashApp
from agentdash.tui.describe import DescribeScreen
from agentdash.tui.fleet import FleetScreen
from agentdash.tui.modals import PinModal
from agentdash.tui.pods import PodsScreen
from agentdash.tui.tenants import TenantsScreen
from agentdash.tui.why import WhyScreen
from tests.support import eventually
from tests.support.dashboard import make, notes


async def test_esc_then_a_screens_key_leaves_and_opens_it(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await eventually(lambda: isinstance(app.screen, PodsScreen))
        await pilot.press("alt+t")  # \x1bt: esc, t
        await eventually(lambda: isinstance(app.screen, TenantsScreen))
        assert [type(s) for s in app.screen_stack[1:]] == [FleetScreen, TenantsScreen]


async def test_esc_from_why_then_i_describes_the_pool_from_fleet(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await eventually(lambda: isinstance(app.screen, WhyScreen))
        await pilot.press("alt+i")
        await eventually(lambda: isinstance(app.screen, DescribeScreen))
        assert [type(s) for s in app.screen_stack[1:]] == [FleetScreen, DescribeScreen]


async def test_esc_in_the_pin_dialog_then_S_cancels_it_and_asks_to_pause_all(
    tmp_path: Path,
) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await eventually(lambda: isinstance(app.screen, PinModal))
        await pilot.press("alt+shift+s")  # \x1bS
        await eventually(lambda: "Pin cancelled: nothing changed" in notes(app))
        await eventually(lambda: "Pause the controller?" in question(app))


def question(app: AgentDashApp) -> str:
    return str(app.screen.query_one("#question", Static).render())


async def test_esc_in_the_filter_then_j_clears_it_and_moves_down(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"acme")
        await eventually(lambda: isinstance(app.focused, Input))
        await pilot.press("alt+j")
        fleet = app.screen
        assert isinstance(fleet, FleetScreen)
        await pilot.pause()
        await eventually(lambda: fleet.selected_pool == "acme-support")
        assert fleet.filter == ""
