"""`q` is answered at once, even when what the dashboard runs over takes seconds to stop (the
demo's fleet with its nats-server stalled took 8-9 s, the screen going on as if `q` had not
been pressed)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from textual import events
from textual.content import Content
from textual.markup import MarkupError
from textual.screen import ModalScreen

from agentdash.tui.app import AgentDashApp
from agentdash.tui.fleet import FleetScreen
from agentdash.tui.leaving import ExitWatchdog
from agentdash.tui.modals import ConfirmationModal
from agentdash.tui.sample import sample_feed
from tests.support import eventually
from tests.support.dashboard import notes


def press(app: AgentDashApp, key: str) -> None:
    """A key as the terminal sends it; not Pilot.press, which waits for the app to be idle,
    and an app that is quitting is not."""
    assert app._driver is not None
    event = events.Key(key, key)
    event.set_sender(app)
    app._driver.send_message(event)


async def test_q_says_at_once_that_it_quits_while_the_fleet_stops(tmp_path: Path) -> None:
    stopping, stopped = asyncio.Event(), asyncio.Event()

    async def slow_stop() -> None:
        stopping.set()
        await stopped.wait()  # as a demo fleet whose NATS does not answer

    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    app = AgentDashApp(feed, refresh_s=None, on_quit=slow_stop)
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await pilot.pause()
            press(app, "q")
            await eventually(stopping.is_set)
            # Noted while the stop still waits: the app went on with its messages.
            await eventually(lambda: any("Quitting" in note for note in notes(app)))
            press(app, "q")  # pressed again, as one does: said once
            press(app, "S")  # an action while the fleet stops under it: not taken
            press(app, "t")
            await pilot.pause()
            assert sum("Quitting" in note for note in notes(app)) == 1
            assert isinstance(app.screen, FleetScreen)
            assert not isinstance(app.screen, ModalScreen)
        finally:
            stopped.set()  # else the app, and the test, would wait for good
        await eventually(lambda: app.return_code is not None)
    assert app.return_code == 0


async def test_a_dialog_confirmed_after_the_quit_began_changes_nothing(tmp_path: Path) -> None:
    # Ctrl-C quits over a dialog; while the fleet stops, the dialog is still there, and a
    # `y` then must not pause anything on the way out.
    stopped = asyncio.Event()

    async def slow_stop() -> None:
        await stopped.wait()

    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    app = AgentDashApp(feed, refresh_s=None, on_quit=slow_stop)
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await pilot.pause()
            await pilot.press("S")
            assert isinstance(app.screen, ConfirmationModal)
            press(app, "ctrl+c")
            await eventually(lambda: app.quitting)
            press(app, "y")
            await eventually(lambda: not isinstance(app.screen, ConfirmationModal))
            await pilot.pause()
            assert not feed.store.current().paused
        finally:
            stopped.set()
        await eventually(lambda: app.return_code is not None)


class _Watchdog(ExitWatchdog):
    """Records that the exit was asked for; ends nothing (the real one would end the tests)."""

    def __init__(self) -> None:
        self.asked = threading.Event()

    def catch_signals(self, on_signal: object) -> None:
        pass


async def test_an_error_nothing_handled_asks_the_watchdog_for_the_exit(tmp_path: Path) -> None:
    # The app ends on it, and asyncio then cancels what the app ran only once: a cancel lost
    # in nats.py kept the demo up for good, its fleet running under the traceback (a notice
    # read as markup, `a[/b]` in a path, was one such error). The watchdog is asked, as by `q`.
    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    watchdog = _Watchdog()
    app = AgentDashApp(feed, refresh_s=None, watchdog=watchdog)
    with pytest.raises(MarkupError):
        await _fail_in(app)
    assert app.return_code == 1
    assert watchdog.asked.is_set()


async def _fail_in(app: AgentDashApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.call_later(Content.from_markup, "closes a tag [/b] it never opened")
        await eventually(lambda: app.return_code is not None)
