"""Regenerate screenshots/*.svg from the deterministic sample fleet (the snapshot tests' feed).

python screenshots/generate.py        (or: make screenshots)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentdash.tui.app import AgentDashApp
from agentdash.tui.sample import sample_feed

HERE = Path(__file__).parent
SIZE = (120, 34)
SHOTS = [
    ("fleet", []),
    ("why", ["down", "down", "down", "down", "enter"]),
    ("pods", ["p"]),
    ("tenants", ["t"]),
    ("events", ["e"]),
    ("pin", ["down", "down", "down", "down", "w"]),
    ("confirm", ["down", "down", "s"]),
    ("help", ["question_mark"]),
    ("describe", ["down", "i"]),
    ("pause", ["down", "down", "x"]),
]


async def shoot(name: str, keys: list[str], overrides: Path) -> None:
    feed = await sample_feed(overrides=overrides)
    app = AgentDashApp(feed, refresh_s=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await app.workers.wait_for_complete()  # describe reads the cluster's Events
        await pilot.pause()
        app.save_screenshot(str(HERE / f"{name}.svg"))


async def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for name, keys in SHOTS:
            await shoot(name, keys, Path(scratch) / "overrides.json")
            print(f"screenshots/{name}.svg")


if __name__ == "__main__":
    asyncio.run(main())
