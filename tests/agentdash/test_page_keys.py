"""Describe and a pod's page scroll with the keys every table and the help scroll with: in a
real terminal j, k, g and G did nothing there, and only the arrows and PgDn moved the page."""

from __future__ import annotations

from pathlib import Path

from textual.containers import VerticalScroll
from textual.pilot import Pilot

from agentdash.tui.describe import DescribeScreen, PodScreen
from tests.support import eventually
from tests.support.dashboard import make, screen_lines


async def test_j_k_g_and_G_scroll_describe(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "i")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DescribeScreen)
        await scrolls_with_the_table_keys(pilot, app.screen.query_one(VerticalScroll))


async def test_j_k_g_and_G_scroll_a_pods_page(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        await pilot.press("p", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, PodScreen)
        await scrolls_with_the_table_keys(pilot, app.screen.query_one(VerticalScroll))


async def scrolls_with_the_table_keys(pilot: Pilot[None], page: VerticalScroll) -> None:
    top = screen_lines(pilot.app)
    assert page.max_scroll_y > 2, "the page fits: nothing to scroll"
    await pilot.press("j", "j")
    await eventually(lambda: page.scroll_y == 2)
    assert screen_lines(pilot.app) != top
    await pilot.press("k")
    await eventually(lambda: page.scroll_y == 1)
    await pilot.press("G")
    await eventually(lambda: page.scroll_y == page.max_scroll_y)
    await pilot.press("g")
    await eventually(lambda: page.scroll_y == 0)
    assert screen_lines(pilot.app)[1:] == top[1:]  # the title line may say a newer state


async def test_i_again_on_describe_keeps_the_page_where_it_was(tmp_path: Path) -> None:
    """The key of the page you stand on (`i` on Describe) leaves it as it is, scrolled where
    you left it, not opened anew at its top. (Why has no key of its own: `w` pins.)"""
    app = await make(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "i")
        await app.workers.wait_for_complete()
        await pilot.pause()
        describe = app.screen
        page = describe.query_one(VerticalScroll)
        await pilot.press("G")
        await eventually(lambda: page.scroll_y == page.max_scroll_y > 0)
        await pilot.press("i")
        await pilot.pause()
        assert app.screen is describe
        assert page.scroll_y == page.max_scroll_y
