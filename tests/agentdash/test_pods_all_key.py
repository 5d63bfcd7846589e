"""The Pods footer offers `a All pools` only where it does something: with every pool shown,
`a` did nothing and the footer still offered it."""

from __future__ import annotations

from pathlib import Path

from agentdash.tui.pods import PodsScreen
from tests.support import eventually
from tests.support.dashboard import make, screen_lines


async def test_all_pools_is_offered_only_for_one_pool(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await eventually(lambda: isinstance(app.screen, PodsScreen))
        await eventually(lambda: "a All pools" in screen_lines(app)[-1])
        await pilot.press("a")
        await eventually(lambda: screen_lines(app)[0].startswith(" Pods of all pools"))
        await eventually(lambda: "All pools" not in screen_lines(app)[-1])
