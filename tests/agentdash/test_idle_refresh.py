"""A refresh that brings nothing new lays nothing out again: twice a second, the header and
the pane under the table were updated with what they showed, and each update laid out the
whole screen: an idle dashboard at 120x40 took 2.4-2.8% of a core here, 1.4-1.9% without
them (measured over 10 s in tmux)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from tests.support import eventually
from tests.support.dashboard import make


@pytest.mark.parametrize("keys", [[], ["tab"], ["e"]], ids=["fleet", "fleet-events", "events"])
async def test_a_refresh_with_nothing_new_updates_no_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: list[str]
) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        updated: list[str | None] = []
        monkeypatch.setattr(Static, "update", lambda self, *a, **k: updated.append(self.id))
        app.refresh_feed()
        app.refresh_feed()
        await pilot.pause()
        assert updated == []
        # and what does change is shown: the header follows the controller's state
        app.feed.store.set_dry_run(True)
        app.refresh_feed()
        await eventually(lambda: "summary" in updated or keys == ["e"])
