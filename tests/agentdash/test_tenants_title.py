"""The Tenants title explains the columns on screen, whole: at 60 columns the bar was gone
and the title that explained it was cut at "LEFT:"."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdash.tui.tenants import TenantsScreen
from tests.support import eventually
from tests.support.dashboard import make, screen_lines

TITLES = {
    40: "Tenants · LEFT: until spent",
    60: "Tenants · LEFT: until spent",
    80: "Tenants · tokens today vs budget, │ the warn line · LEFT: until spent",
}


@pytest.mark.parametrize("width", list(TITLES))
async def test_the_title_names_what_is_shown_and_fits(tmp_path: Path, width: int) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(width, 20)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await eventually(lambda: isinstance(app.screen, TenantsScreen))
        await pilot.pause()
        assert screen_lines(app)[0].strip() == TITLES[width]
