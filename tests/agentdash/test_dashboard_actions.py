"""Operator actions on the dashboard, driven by keys, checked on the real controller."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from agentdash.tui.fleet import FleetScreen
from agentdash.tui.modals import ConfirmationModal, PinModal
from agentdash.tui.sample import START, TICKS
from agentdash.tui.why import WhyScreen
from controller.coordination.overrides import OverrideStore
from controller.core.events import ActionEvent, ScaleEvent
from controller.core.model import Overrides, Pin, QueueStats
from controller.core.wording import span_words
from tests.support import eventually
from tests.support.dashboard import POOLS, down_to, make, notes, screen_lines


def shown(widget: Static) -> str:
    """The text a widget shows, as a person would read it."""
    console = Console(width=120)
    with console.capture() as capture:
        console.print(widget.content)
    return capture.get()


async def test_pin_asks_first_then_the_controller_keeps_the_floor(tmp_path: Path) -> None:
    app = await make(tmp_path)
    store = app.feed.store
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press(*down_to("initech-summarize"), "w")
        assert isinstance(app.screen, PinModal)
        await pilot.press("backspace", "2", "tab", "1", "0", "enter")
        assert isinstance(app.screen, ConfirmationModal)
        await pilot.press("enter")  # Cancel has the focus: enter alone does nothing
        assert isinstance(app.screen, FleetScreen)
        assert store.current().pins == {}

        await pilot.press("w", "backspace", "2", "tab", "1", "0", "enter", "tab", "enter")
        assert isinstance(app.screen, FleetScreen)
        now = START + TICKS
        pin = Pin(replicas=2, until=now + 600, by="operator", at=now)  # who, when, until when
        assert store.current().pins == {"initech-summarize": pin}

        decisions = {d.pool: d for d in await app.feed.loop.tick()}
        assert decisions["initech-summarize"].desired >= 2
        pinned = decisions["initech-summarize"]
        # The pin is the floor: named as the reason unless demand alone asks for more.
        assert "pin" in [r.rule for r in pinned.reasons] or pinned.recommendation > 2
        app.refresh_feed()
        actions = [e for e in app.log_events if isinstance(e, ActionEvent)]
        assert [(a.who, a.action, a.target, a.detail) for a in actions] == [
            ("operator", "pin", "initech-summarize", "2 replicas for 10 min")
        ]
        toast = " ".join([n.message for n in app._notifications][-1].split())  # in its lines
        assert toast == "pin initech-summarize: 2 replicas for 10 min, by operator"
    restarted = OverrideStore(app.feed.config, tmp_path / "overrides.json")
    assert restarted.current().pins == {"initech-summarize": pin}


async def test_the_action_says_the_length_as_the_confirmation_did(tmp_path: Path) -> None:
    """The dialog asked "for 2,880 min (2 d)?"; the notice and the Events screen then said
    "for 172800 s", and a Fleet row "paused 48h": a length said as the operator gave it."""
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("w", "backspace", "2", "tab", "2", "d", "enter")
        assert isinstance(app.screen, ConfirmationModal)
        assert "for 2,880 min (2 d)?" in app.screen.question
        await pilot.press("y")
        said = " ".join(notes(app)[-1].split())  # the words, in the toast's lines
        assert said == "pin acme-research: 2 replicas for 2,880 min (2 d), by operator"
        await pilot.press("e")
        await eventually(lambda: any("2 replicas for 2,880 min (2 d)" in line
                                     for line in screen_lines(app)))  # fmt: skip


async def test_a_bad_pin_is_refused_in_the_dialog(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press("w", "backspace", "enter")
        assert isinstance(app.screen, PinModal)
        assert "whole number" in shown(app.screen.query_one("#error", Static))
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
        assert app.feed.store.current().pins == {}


async def test_a_pin_cancelled_at_its_confirmation_says_nothing_changed(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        # enter twice: the dialog, then the confirmation, whose focus is on Cancel
        await pilot.press("w", "3", "tab", "2", "enter", "enter")
        await eventually(lambda: any("Pin cancelled: nothing changed" in n for n in notes(app)))
        assert isinstance(app.screen, FleetScreen)
        assert app.feed.store.current().pins == {}


@pytest.mark.parametrize(("key", "label"), [("w", "Pin"), ("x", "Pause")])
async def test_a_dialog_left_with_escape_says_nothing_changed(
    tmp_path: Path, key: str, label: str
) -> None:
    app = await make(tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press(key)
        assert not isinstance(app.screen, FleetScreen)
        await pilot.press("escape")
        await eventually(
            lambda: any(f"{label} cancelled: nothing changed" in n for n in notes(app))
        )
        assert isinstance(app.screen, FleetScreen)
        assert app.feed.store.current() == Overrides()


async def test_unpin(tmp_path: Path) -> None:
    app = await make(tmp_path)
    app.feed.store.pin("acme-research", 3)
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press("u", "tab", "enter")
        assert app.feed.store.current().pins == {}


async def test_pausing_a_tenant_takes_its_pools_to_zero_and_keeps_the_queue(
    tmp_path: Path,
) -> None:
    app = await make(tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press(*down_to("globex-coder"), "s", "tab", "enter")
        assert app.feed.store.current().paused_tenants == {"globex"}
        decisions = {d.pool: d for d in await app.feed.loop.tick()}
        assert decisions["globex-coder"].desired == 0
        assert decisions["globex-triage"].desired == 0
        assert decisions["globex-coder"].main_reason.rule == "paused"
        assert "stays queued" in decisions["globex-coder"].main_reason.detail

        await pilot.press("s", "tab", "enter")  # the same key resumes
        assert app.feed.store.current().paused_tenants == frozenset()


async def test_pausing_the_controller_holds_every_replica(tmp_path: Path) -> None:
    app = await make(tmp_path)
    cluster = app.feed.loop.actuator
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press("S", "tab", "enter")
        assert app.feed.store.current().paused
        assert [n.message for n in app._notifications][-1] == "pause controller by operator"
        before = dict(cluster.replicas)  # type: ignore[attr-defined]
        app.feed.loop.lag.lag = {p: QueueStats(0, 0) for p in POOLS}  # type: ignore[attr-defined]
        for _ in range(5):
            await app.feed.loop.tick()
        assert cluster.replicas == before  # type: ignore[attr-defined]
        app.refresh_feed()
        assert "paused" in shown(app.screen.query_one("#summary", Static))


async def test_dry_run_decides_and_reports_but_never_scales(tmp_path: Path) -> None:
    app = await make(tmp_path)
    cluster = app.feed.loop.actuator
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press("d", "tab", "enter")
        assert app.feed.store.current().dry_run
        assert [n.message for n in app._notifications][-1] == "dry-run on controller by operator"
        before = dict(cluster.replicas)  # type: ignore[attr-defined]
        app.feed.loop.lag.lag = {p: QueueStats(0, 0) for p in POOLS}  # type: ignore[attr-defined]
        app.feed.loop.clock.now += 120  # type: ignore[attr-defined]  # past every window
        await app.feed.loop.tick()
        assert cluster.replicas == before  # type: ignore[attr-defined]
        events = [e for e in app.feed.events() if isinstance(e, ScaleEvent)]
        assert events
        assert all(e.dry_run for e in events)


async def test_read_only_hides_and_refuses_every_action(tmp_path: Path) -> None:
    app = await make(tmp_path, read_only=True)
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        for key in ("w", "u", "s", "S", "d"):
            await pilot.press(key)
            assert isinstance(app.screen, FleetScreen), key
        footer_keys = {b.binding.key for b in app.active_bindings.values() if b.binding.show}
        assert not footer_keys & {"w", "u", "s", "S", "d"}
        app.run_operator_action("pin")  # what the command palette's entry calls
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        assert any("read-only" in n.message for n in app._notifications)
    assert app.feed.store.current() == OverrideStore(app.feed.config).current()


async def test_enter_explains_and_escape_comes_back(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press(*down_to("globex-triage"), "enter")
        assert isinstance(app.screen, WhyScreen)
        assert app.screen.pool == "globex-triage"
        steps = app.screen.query_one("#steps", Static)
        await eventually(lambda: "1. data" in shown(steps))  # filled after the screen's refresh
        assert "Main reason:" in shown(steps)
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
        assert app.screen.selected_pool == "globex-triage"


def test_the_pin_dialog_refuses_minutes_that_are_not_a_time() -> None:
    dialog = PinModal("acme-research", None, limit=8)
    assert dialog.parse("3", "") == (3, None)
    assert dialog.parse("3", "1.5") == (3, 90.0)
    for minutes in ("nan", "inf", "-1", "0", "1e300"):  # nan was taken for a pin's length
        assert dialog.parse("3", minutes) is None, minutes
    assert dialog.parse("-1", "") is None
    assert dialog.parse("8", "") == (8, None)
    assert dialog.parse("9", "") is None  # over the pool's max_replicas
    # Python reads these as numbers; the confirmation showed "3" for an Arabic-Indic digit
    for replicas in ("\u0663", "1_0", "\uff13"):
        assert dialog.parse(replicas, "") is None, replicas
    assert dialog.parse("3", "1e-300") is None  # a pin that would end as it began


@pytest.mark.parametrize(
    ("minutes", "seconds", "said"),
    [("1d", 86400.0, "1,440 min (1 d)"), ("2h", 7200.0, "120 min (2 h)"), ("90s", 90.0, "1.5 min"),
     ("45m", 2700.0, "45 min"), ("45", 2700.0, "45 min"), ("1 d", 86400.0, "1,440 min (1 d)"),
     ("123456.7", 7407402.0, "123,456.7 min"), ("0.01667", 1.0002, "1.0002 s"), ("1s", 1.0, "1 s"),
     ("365d", 31536000.0, "525,600 min (365 d)")],
)  # fmt: skip
def test_the_minutes_field_takes_a_unit_and_the_confirmation_says_it_unrounded(
    minutes: str, seconds: float, said: str
) -> None:
    """`1d` was read as 1 minute (the number field dropped the `d`), 123456.7 confirmed as
    123457."""
    dialog = PinModal("acme-research", None, limit=8)
    choice = dialog.parse("3", minutes)
    assert choice is not None
    assert choice[1] == pytest.approx(seconds)
    assert span_words(choice[1]) == said


def test_the_minutes_field_refuses_what_is_not_a_time_from_a_second_to_a_year() -> None:
    dialog = PinModal("acme-research", None, limit=8)
    for minutes in ("0s", "0", "0.0166", "99999d", "366d", "525601", "1w", "d", "1dd", "1e3", "1D"):
        assert dialog.parse("3", minutes) is None, minutes


async def test_a_pin_for_a_day_typed_as_1d_is_confirmed_as_a_day(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("w", "tab", "1", "d", "enter")
        assert isinstance(app.screen, ConfirmationModal)
        assert app.screen.question == "Pin acme-research at 1 warm replica for 1,440 min (1 d)?"
