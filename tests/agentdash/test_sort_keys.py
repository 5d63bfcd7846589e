"""Every shift+letter that sorts a table can be found on the screen: underlined in its
column's label, or named in the help. `N` sorted Fleet's POOL and Pods' POD by name, as
docs/dashboard.md says, but neither label has an N to underline and the help said only "sort
by the column whose letter is underlined": an operator could not find it. The help's
"In every table" now lists `N  Sort by name`."""

from __future__ import annotations

from pathlib import Path

from agentdash.tui.table import KeyedTable
from tests.support.dashboard import make


async def test_every_sort_key_is_underlined_or_named_in_the_help(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        in_help = {
            binding.key
            for _, bindings in app.help_sections()
            for binding in bindings
            if "sort" in binding.action
        }
        for screen_key in ("f", "p", "t", "e"):
            await pilot.press(screen_key)
            for table in app.screen.query(KeyedTable):
                for letter, label in table._sort_keys.items():
                    assert letter in label.upper() or letter in in_help, (
                        f"{screen_key}: {letter} sorts {label}, and neither says so"
                    )
