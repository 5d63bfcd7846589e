"""An alarm (nothing scales, a pool cannot be served) and a warning read apart without color:
with NO_COLOR=1 the header's red badge and its yellow one were both ` ⚠ 2 (!) ` in grey, and
the Attention screen's red WHAT and its yellow one, the same words in grey."""

from __future__ import annotations

from pathlib import Path

from agentdash.tui.attention import ALARM, WARNING, Flag
from agentdash.tui.attention_view import AttentionScreen
from agentdash.tui.live import header_text
from tests.support import eventually
from tests.support.dashboard import make, screen_lines

SMALL = (80, 24)


async def test_the_headers_badge_says_alarm_or_warning_in_its_text(tmp_path: Path) -> None:
    app = await make(tmp_path)
    snapshot = app.feed.snapshot()
    warning = Flag(WARNING, "budget", "acme", "runs out")
    alarm = Flag(ALARM, "paused", "controller", "nothing scales")
    warned = header_text(snapshot, read_only=False, flags=[warning, warning]).plain
    alarmed = header_text(snapshot, read_only=False, flags=[alarm, warning]).plain
    assert " ⚠ 2 (!) " in warned
    assert " ✖ 2 (!) " in alarmed
    assert "⚠" not in alarmed


async def test_attention_marks_each_flag_alarm_or_warning_in_its_text(tmp_path: Path) -> None:
    app = await make(tmp_path)
    app.feed.store.set_dry_run(True)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("exclamation_mark")
        await eventually(lambda: isinstance(app.screen, AttentionScreen))
        await eventually(lambda: any("✖ dry-run" in line for line in screen_lines(app)))
        assert any("⚠ budget" in line for line in screen_lines(app))
