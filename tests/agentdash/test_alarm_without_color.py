"""An alarm (nothing scales, a pool cannot be served) and a warning read apart without color:
with NO_COLOR=1 the header's red badge and its yellow one were both ` ⚠ 2 (!) ` in grey, and
the Attention screen's red WHAT and its yellow one, the same words in grey."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual.color import Color

from agentdash.tui.app import AgentDashApp
from agentdash.tui.attention import ALARM, WARNING, Flag
from agentdash.tui.attention_view import AttentionScreen
from agentdash.tui.live import header_text
from agentdash.tui.tenants import TenantsScreen
from controller.runtime.snapshot import FleetSnapshot
from tests.support import eventually
from tests.support.dashboard import make, screen_lines

SMALL = (80, 24)
READABLE = 0.25
"""The least difference of brightness (0 to 1) between a word and its background that an eye
reads on a grey screen; the dashboard's plain text stands 0.5 or more from its own."""


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


@pytest.mark.parametrize("keys", [[], ["t"], ["exclamation_mark"], ["e"], ["down", "i"]])
async def test_without_color_every_word_stands_out_from_its_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: list[str]
) -> None:
    """Red turns dark grey without color: `starved` and the header's `pods 24/24` at the cap
    came out #3B3B3B on #2D2D2D, there for a screenshot, not for an eye."""
    monkeypatch.setenv("NO_COLOR", "1")  # Textual reads it as the app is made
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert faint_words(app) == []


def faint_words(app: AgentDashApp) -> list[tuple[str, str, str]]:
    """Each word on screen too close in brightness to its background: (word, text, under)."""
    faint = []
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            style = segment.style
            words = any(c.isalnum() or c in "✖⚠" for c in segment.text)
            if not words or style is None or style.color is None:
                continue
            if style.bgcolor is None or style.color.is_default or style.bgcolor.is_default:
                continue
            text, under = (Color.from_rich_color(c) for c in (style.color, style.bgcolor))
            if abs(text.brightness - under.brightness) < READABLE:
                faint.append((segment.text.strip(), text.hex, under.hex))
    return faint


async def test_without_color_a_spent_budgets_bar_stands_out_from_its_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its red full blocks came out #3B3B3B on the table's #1E1E1E: the bar of the one tenant
    whose pools the budget stops read as empty."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = await make(tmp_path)
    async with app.run_test(size=(100, 12)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await eventually(lambda: isinstance(app.screen, TenantsScreen))
        snapshot = spent(app.feed.snapshot(), "globex")
        app.screen.show(snapshot, [])
        await pilot.pause()
        bars = [s for s in segments(app) if "█" in s[0]]
        assert bars, "no bar on screen"
        assert [bar for bar in bars if bar[3] < READABLE] == []


def spent(snapshot: FleetSnapshot, tenant: str) -> FleetSnapshot:
    """`snapshot` with `tenant`'s budget spent, 10,702 tokens over."""
    tenants = tuple(
        replace(t, tokens_today=(t.budget or 0) + 10_702) if t.name == tenant else t
        for t in snapshot.tenants
    )
    return replace(snapshot, tenants=tenants)


def segments(app: AgentDashApp) -> list[tuple[str, str, str, float]]:
    """Each colored segment on screen: (text, its color, its background's, their difference
    of brightness)."""
    found = []
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            style = segment.style
            if style is None or style.color is None or style.bgcolor is None:
                continue
            if style.color.is_default or style.bgcolor.is_default:
                continue
            text, under = (Color.from_rich_color(c) for c in (style.color, style.bgcolor))
            found.append(
                (segment.text, text.hex, under.hex, abs(text.brightness - under.brightness))
            )
    return found
