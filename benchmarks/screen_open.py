"""The CPU it takes to start the dashboard and open each screen, as a snapshot test does.

The sample fleet at 80x24: a fresh app for each screen, its key pressed, the screen drawn and
exported as SVG. The best of five runs each (process time, so waiting is not counted).

    python benchmarks/screen_open.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from agentdash.tui.app import AgentDashApp
from agentdash.tui.sample import sample_feed

SCREENS = {"Fleet (start)": [], "Pods": ["p"], "Tenants": ["t"], "Events": ["e"],
           "Why": ["enter"], "Help": ["question_mark"]}  # fmt: skip
RUNS = 5


def open_screen(keys: list[str], overrides: Path) -> float:
    """The process time of one app started, `keys` pressed and the screen exported."""
    start = time.process_time()
    asyncio.run(_open(keys, overrides))
    return time.process_time() - start


async def _open(keys: list[str], overrides: Path) -> None:
    app = AgentDashApp(await sample_feed(overrides=overrides), read_only=False, refresh_s=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*keys)
        await pilot.pause()
        app.export_screenshot()


def main() -> None:
    overrides = Path(tempfile.mkdtemp()) / "overrides.json"
    open_screen([], overrides)  # imports and first-use caches, not counted
    for name, keys in SCREENS.items():
        best = min(open_screen(keys, overrides) for _ in range(RUNS))
        print(f"{name:14} {best:.2f} s CPU")


if __name__ == "__main__":
    main()
