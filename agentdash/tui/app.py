"""The agentdash dashboard: a Textual app over one Feed.

The app never reads a source itself: twice a second it takes the feed's snapshot and new
events and hands them to the screen on top. While a modal is open nothing is redrawn
(Dolphie's habit), and hidden screens are not updated at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen

from agentdash.errors import StartError
from agentdash.tui.commands import AgentDashCommands
from agentdash.tui.feed import Feed
from agentdash.tui.modals import ConfirmationModal, HelpScreen, PinModal
from agentdash.tui.pause import PauseChoice, PausePoolModal, pause_question
from agentdash.tui.screens import EventsScreen, FleetScreen, LiveScreen, PodsScreen, TenantsScreen
from agentdash.tui.why import WhyScreen
from controller.events import ActionEvent, Event
from controller.overrides import ReadOnlyError

PACKAGE = Path(__file__).parents[1]
REFRESH_S = 0.5
LOG_SIZE = 5000
MUTATING = {"pin", "unpin", "pause_tenant", "pause_pool", "pause_controller", "dry_run"}


def stylesheet() -> Path:
    """The dashboard's CSS. A wheel ships the top-level styles/ as agentdash/styles/
    (pyproject.toml maps it); a checkout, and so an editable install, keeps it at the top."""
    for folder in (PACKAGE / "styles", PACKAGE.parent / "styles"):
        if (folder / "app.tcss").is_file():
            return folder / "app.tcss"
    # Textual would print a page about it and then exit 0, as if all had gone well.
    raise StartError(f"the dashboard's styles are missing from {PACKAGE}: reinstall agentdash")


class AgentDashApp(App[None]):
    TITLE = "agentdash"
    COMMANDS = App.COMMANDS | {AgentDashCommands}
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("f", "show('fleet')", "Fleet"),
        Binding("p", "show('pods')", "Pods"),
        Binding("t", "show('tenants')", "Tenants"),
        Binding("e", "show('events')", "Events"),
        Binding("w", "operator('pin')", "Pin"),
        Binding("u", "operator('unpin')", "Unpin"),
        Binding("s", "operator('pause_tenant')", "Pause tenant"),
        Binding("x", "operator('pause_pool')", "Pause pool", show=False),
        Binding("S", "operator('pause_controller')", "Pause all", show=False),
        Binding("d", "operator('dry_run')", "Dry-run", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_palette", "Commands", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        feed: Feed | None = None,
        *,
        connect: Callable[[], Awaitable[Feed]] | None = None,
        read_only: bool = False,
        refresh_s: float | None = REFRESH_S,
        on_quit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Give a ready `feed`, or `connect`, which the app awaits once it is running."""
        super().__init__(css_path=str(stylesheet()))
        self._feed = feed
        self._connect = connect
        self.read_only = read_only
        self.refresh_s = refresh_s
        self.on_quit = on_quit
        self.log_events: deque[Event] = deque(maxlen=LOG_SIZE)

    @property
    def feed(self) -> Feed:
        assert self._feed is not None, "no feed yet"
        return self._feed

    def on_mount(self) -> None:
        self.push_screen(FleetScreen(self.read_only))
        if self._connect is not None:
            self.run_worker(self._start(self._connect), exclusive=True)
        else:
            self.call_after_refresh(self.refresh_feed)
        if self.refresh_s:
            self.set_interval(self.refresh_s, self.refresh_feed)
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGTERM, lambda: self.run_worker(self.action_quit())
            )

    async def _start(self, connect: Callable[[], Awaitable[Feed]]) -> None:
        self.notify("Starting the fleet…", timeout=3)
        try:
            self._feed = await connect()
        except StartError:
            # `connect` keeps the error for the CLI to print in one line once the screen is
            # gone; raised from a worker it would be a page of traceback, config and all.
            self.exit(return_code=1)
            return
        self.refresh_feed()

    def refresh_feed(self) -> None:
        if self._feed is None:
            return
        self.log_events.extend(self.feed.events())
        if isinstance(self.screen, ModalScreen):
            return  # nothing is redrawn under a dialog
        screen = self.screen
        if isinstance(screen, LiveScreen) and screen.is_mounted:
            screen.show(self.feed.snapshot(), self.log_events)

    # Screens

    def action_show(self, name: str) -> None:
        selected = getattr(self.screen, "selected_pool", None)
        if name == "help":
            self.action_help()
            return
        if name == "fleet":
            while len(self.screen_stack) > 2:
                self.pop_screen()
            return
        screens: dict[str, Callable[[], LiveScreen]] = {
            "pods": lambda: PodsScreen(selected),
            "tenants": TenantsScreen,
            "events": EventsScreen,
            "why": lambda: WhyScreen(selected or "", self.feed.config),
        }
        if name == "why" and selected is None:
            self.notify("Select a pool first", severity="warning")
            return
        screen = screens[name]()
        if isinstance(self.screen, FleetScreen):
            self.push_screen(screen)
        else:
            self.switch_screen(screen)
        self.call_after_refresh(self.refresh_feed)

    def action_why(self) -> None:
        self.action_show("why")

    def action_go_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    # Operator actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # --read-only: operator keys are hidden from the footer and do nothing
        return not (action == "operator" and self.read_only)

    def action_operator(self, name: str) -> None:
        self.run_operator_action(name)

    def run_operator_action(self, name: str) -> None:
        if self.read_only and name in MUTATING:
            self.notify("Refused: agentdash runs --read-only", severity="error")
            return
        pool = getattr(self.screen, "selected_pool", None)
        store, overrides = self.feed.store, self.feed.store.current()
        if name in ("pin", "unpin", "pause_tenant", "pause_pool") and pool is None:
            self.notify("Select a pool first", severity="warning")
            return
        if name == "pin":
            assert pool is not None
            current = overrides.pins.get(pool)
            self.push_screen(PinModal(pool, current.replicas if current else None),
                             lambda result: self._pin(pool, result))  # fmt: skip
        elif name == "unpin":
            assert pool is not None
            if pool not in overrides.pins:
                self.notify(f"{pool} is not pinned")
                return
            self._confirm(f"Unpin {pool}?", "Unpin", lambda: store.unpin(pool))
        elif name == "pause_tenant":
            assert pool is not None
            tenant = self.feed.config.pools[pool].tenant
            paused = tenant in overrides.paused_tenants
            verb = "Resume" if paused else "Pause"
            what = "its pools scale back up" if paused else "its pools go to 0; queues are kept"
            self._confirm(f"{verb} tenant {tenant}? ({what})", verb,
                          lambda: store.pause_tenant(tenant, not paused))  # fmt: skip
        elif name == "pause_pool":
            assert pool is not None
            self._pause_pool(pool)
        elif name == "pause_controller":
            verb = "Resume" if overrides.paused else "Pause"
            self._confirm(f"{verb} the controller? (replicas are held where they are)", verb,
                          lambda: store.pause_controller(not overrides.paused))  # fmt: skip
        elif name == "dry_run":
            state = "off" if overrides.dry_run else "on"
            self._confirm(f"Turn dry-run {state}?", f"Dry-run {state}",
                          lambda: store.set_dry_run(not overrides.dry_run))  # fmt: skip

    def _pin(self, pool: str, result: tuple[int, float | None] | None) -> None:
        if result is None:
            return
        replicas, span = result
        when = f" for {span / 60:g} min" if span else " until unpinned"
        self._confirm(f"Pin {pool} at {replicas} warm replicas{when}?", "Pin",
                      lambda: self.feed.store.pin(pool, replicas, span))  # fmt: skip

    def _pause_pool(self, pool: str) -> None:
        """`x`: pause the pool (hold, or to N, for some minutes), or resume it if paused."""
        store = self.feed.store
        if pool in store.current().paused_pools:
            self._confirm(f"Resume pool {pool}? (its queue scales it again)", "Resume",
                          lambda: store.resume_pool(pool))  # fmt: skip
            return
        row = next((p for p in self.feed.snapshot().pools if p.name == pool), None)
        replicas = row.replicas if row is not None else 0

        def chosen(choice: PauseChoice | None) -> None:
            if choice is not None:
                self._confirm(pause_question(pool, replicas, choice), "Pause",
                              lambda: store.pause_pool(pool, *choice))  # fmt: skip

        self.push_screen(PausePoolModal(pool, replicas), chosen)

    def _confirm(self, question: str, label: str, act: Callable[[], ActionEvent]) -> None:
        def done(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                event = act()
            except ReadOnlyError as exc:  # the store refuses, whatever the screen allowed
                self.notify(str(exc), severity="error")
                return
            self.feed.announce(event)
            self.notify(f"{event.action} {event.target} by {event.who}")
            self.refresh_feed()

        self.push_screen(ConfirmationModal(question, label), done)

    async def action_quit(self) -> None:
        if self.on_quit is not None:
            on_quit, self.on_quit = self.on_quit, None
            await on_quit()
        self.exit()


def run_dashboard(feed: Feed, **kwargs: Any) -> None:
    AgentDashApp(feed, **kwargs).run()
