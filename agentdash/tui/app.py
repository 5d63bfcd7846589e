"""The agentdash dashboard: a Textual app over one Feed.

The app never reads a source itself: twice a second it takes the feed's snapshot and new
events and hands them to the screen on top. Under a dialog, the screen it covers keeps being
updated (an operator deciding whether to pin a pool is watching that pool); screens further
down the stack are not updated at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.filter import LineFilter
from textual.screen import ModalScreen, Screen

from agentdash.errors import StartError
from agentdash.tui.actions import OperatorActions, select_a_pool
from agentdash.tui.attention import Attention, Flag, InForce
from agentdash.tui.attention_view import AttentionScreen
from agentdash.tui.burst_keys import BurstKeys
from agentdash.tui.commands import AgentDashCommands, system_commands
from agentdash.tui.describe import DescribeScreen, PodScreen
from agentdash.tui.events_view import EventsScreen
from agentdash.tui.feed import Feed
from agentdash.tui.fleet import FleetScreen
from agentdash.tui.leaving import GRACE_S, ExitWatchdog, StopOnce
from agentdash.tui.live import LiveScreen, hide_operator_keys
from agentdash.tui.modals import SHORT, HelpScreen, Section, bindings_of, quit_said_once
from agentdash.tui.no_color import readable_filters
from agentdash.tui.pods import PodsScreen
from agentdash.tui.screenshots import Screenshots
from agentdash.tui.table import KeyedTable
from agentdash.tui.tenants import TenantsScreen
from agentdash.tui.why import WhyScreen
from controller.core.events import Event
from controller.runtime.snapshot import FleetSnapshot

PACKAGE = Path(__file__).parents[1]
REFRESH_S = 0.5
LOG_SIZE = 5000


def stylesheet() -> Path:
    """The dashboard's CSS. A wheel ships the top-level styles/ as agentdash/styles/
    (pyproject.toml maps it); a checkout, and so an editable install, keeps it at the top."""
    for folder in (PACKAGE / "styles", PACKAGE.parent / "styles"):
        if (folder / "app.tcss").is_file():
            return folder / "app.tcss"
    # Textual would print a page about it and then exit 0, as if all had gone well.
    raise StartError(f"the dashboard's styles are missing from {PACKAGE}: reinstall agentdash")


class AgentDashApp(Screenshots, BurstKeys, App[None]):
    TITLE = "agentdash"
    COMMANDS = App.COMMANDS | {AgentDashCommands}
    # Every screen of a terminal under SHORT rows has the class -short (styles/app.tcss).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (SHORT, "-tall")]
    # The footer shows each screen's own keys after `?` and `q`, then these in this order; at
    # 80 columns the last ones are cut, and the rarest are left out (help and palette list
    # them all). An operator action's tooltip is its line in the help.
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("i", "describe", "Describe"),
        Binding("p", "show('pods')", "Pods"),
        Binding("t", "show('tenants')", "Tenants"),
        Binding("e", "show('events')", "Events"),
        Binding("f", "show('fleet')", "Fleet"),
        Binding("exclamation_mark", "show('attention')", "Attention"),
        Binding(
            "w",
            "operator('pin')",
            "Pin",
            tooltip="pin the pool warm: at least N replicas, for M minutes or until unpinned",
        ),
        Binding("u", "operator('unpin')", "Unpin", tooltip="unpin the pool"),
        Binding(
            "s",
            "operator('pause_tenant')",
            "Pause tenant",
            tooltip="pause / resume a tenant (its pools go to 0, the queue is kept): on "
            "Tenants the selected one, elsewhere the selected pool's",
        ),
        Binding(
            "x",
            "operator('pause_pool')",
            "Pause pool",
            tooltip="pause / resume the pool: hold its replicas, or set them to N, until "
            "resumed or for M minutes",
        ),
        Binding(
            "S",
            "operator('pause_controller')",
            "Pause all",
            tooltip="pause / resume the whole controller (replicas held where they are)",
        ),
        Binding(
            "d",
            "operator('dry_run')",
            "Dry-run",
            tooltip="dry-run on / off (decide and log, never scale)",
        ),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_palette", "Commands", show=False),
        # Declared here because a `:` binding to the palette stops Textual adding its own
        # ctrl+p; priority, as Textual's, so that no widget takes it first.
        Binding("ctrl+p", "command_palette", "Commands", show=False, priority=True),
        Binding("q", "quit", "Quit"),
        # Ctrl-C quits, as in k9s and a shell, where Textual asks to press q instead. Text
        # selected on a screen is still copied, and in a text field ctrl+c copies: their own
        # ctrl+c comes first. (The dialogs have it too: modals.QUIT.)
        Binding("ctrl+c", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        feed: Feed | None = None,
        *,
        connect: Callable[[], Awaitable[Feed]] | None = None,
        read_only: bool = False,
        refresh_s: float | None = REFRESH_S,
        on_quit: Callable[[], Awaitable[None]] | None = None,
        watchdog: ExitWatchdog | None = None,
    ) -> None:
        """Give a ready `feed`, or `connect`, which the app awaits once it is running.
        `on_quit` stops what the app runs over; `watchdog`, for a dashboard that runs for
        real, makes sure it exits."""
        super().__init__(css_path=str(stylesheet()))
        self._feed = feed
        self._connect = connect
        self.read_only = read_only
        self.refresh_s = refresh_s
        self.stop_once = StopOnce(on_quit)
        self.quitting = False
        self.watchdog = watchdog
        self.log_events: deque[Event] = deque(maxlen=LOG_SIZE)
        self.attention = Attention()
        self.flags: list[Flag] = []
        """What needs attention as of the last refresh (the header counts it)."""
        self.in_force: list[InForce] = []
        self.last_snapshot: FleetSnapshot | None = None
        """What the last refresh showed: a screen opened before the next one starts from it."""
        self.operator_actions = OperatorActions(
            self, lambda: self.feed, lambda: self.refresh_feed(), read_only=read_only
        )
        if read_only:
            hide_operator_keys(self._bindings)

    @property
    def feed(self) -> Feed:
        assert self._feed is not None, "no feed yet"
        return self._feed

    def get_line_filters(self) -> Sequence[LineFilter]:
        return readable_filters(super().get_line_filters())  # NO_COLOR: no text lost in grey

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        return system_commands(super().get_system_commands(screen))

    def on_mount(self) -> None:
        self.push_screen(FleetScreen(self.read_only))
        if self._connect is not None:
            self.run_worker(self._start(self._connect), exclusive=True)
        else:
            self.call_after_refresh(self.refresh_feed)
        if self.refresh_s:
            self.set_interval(self.refresh_s, self.refresh_feed)
        loop = asyncio.get_running_loop()
        if self.watchdog is not None:
            self.watchdog.catch_signals(lambda sig: loop.call_soon_threadsafe(self._signalled, sig))
            return
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(signal.SIGTERM, lambda: self.run_worker(self.action_quit()))

    def _signalled(self, sig: signal.Signals) -> None:
        if sig != signal.SIGHUP:
            self.run_worker(self.action_quit())
        elif not self.stop_once.finished:
            self.run_worker(self._hung_up())
        else:  # stopped already: all that is left is to restore a screen that is gone
            self._leave()

    async def _hung_up(self) -> None:
        # The terminal is gone: stop in order (the demo's unfinished tasks go back to the
        # queue), then leave without restoring a screen that no longer exists: Textual's
        # teardown was seen to block for good on a hung-up terminal.
        await self.stop_once()
        self._leave()

    def _leave(self) -> None:
        assert self.watchdog is not None  # only its signal handler hangs up
        self.watchdog.leave(0)

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
        snapshot = self.last_snapshot = self.feed.snapshot()
        store = self.feed.store
        self.flags, self.in_force = self.attention.look(
            snapshot, store.current(), self.log_events, store.unwritten()
        )
        # The top screen, or under dialogs the live screen they cover.
        screen = next(
            (s for s in reversed(self.screen_stack) if not isinstance(s, ModalScreen)), None
        )
        if isinstance(screen, LiveScreen) and screen.is_mounted:
            screen.show(snapshot, self.log_events)

    # Screens

    def action_show(self, name: str) -> None:
        """Screens of the footer (pods, tenants, events) open over Fleet, so esc goes home;
        details (why, describe) open over where you stand, so esc comes back there."""
        selected = getattr(self.screen, "selected_pool", None)
        if name == "help":
            self.action_help()
            return
        if name in ("why", "describe") and selected is None:
            self.notify(select_a_pool(self.screen), severity="warning")
            return
        screens: dict[str, Callable[[], LiveScreen]] = {
            "pods": lambda: PodsScreen(selected),
            "tenants": TenantsScreen,
            "events": EventsScreen,
            "attention": AttentionScreen,
            "why": lambda: WhyScreen(selected or "", self.feed.config),
            "describe": lambda: DescribeScreen(
                selected or "",
                self.feed.config,
                self.feed.store.current,
                self.feed.loop.timeline.points,
                self.feed.cluster_events,
            ),
        }
        if name in ("why", "describe"):
            self.open_detail(screens[name]())
            return
        self.home()
        if name != "fleet":
            self.push_screen(screens[name]())
            self.call_after_refresh(self.refresh_feed)

    def home(self) -> FleetScreen:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        fleet = self.screen_stack[-1]
        assert isinstance(fleet, FleetScreen)
        return fleet

    def open_detail(self, screen: LiveScreen) -> None:
        """Drill down: over the screen you stand on, in place of one of the same kind, or
        back to the one just under it (going between Why and describe does not pile up)."""
        under = self.screen_stack[-2] if len(self.screen_stack) > 2 else None
        if same_page(self.screen, screen):
            return  # its key again: the page stays as it is, scrolled where it was
        if type(self.screen) is type(screen):
            self.switch_screen(screen)
        elif type(under) is type(screen) and under.selected_pool == screen.selected_pool:
            self.pop_screen()
        else:
            self.push_screen(screen)
        self.call_after_refresh(self.refresh_feed)

    def action_why(self) -> None:
        self.action_show("why")

    def action_describe(self) -> None:
        self.action_show("describe")

    def action_pod(self) -> None:
        pod = getattr(self.screen, "selected_pod", None)
        if pod is not None:
            self.open_detail(PodScreen(pod, self.feed.cluster_events))

    def action_pools_of_tenant(self) -> None:
        tenant = getattr(self.screen, "selected_tenant", None)
        if tenant is not None:
            self.home().filter_tenant(tenant)
            self.call_after_refresh(self.refresh_feed)

    def action_go_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def help_sections(self) -> list[Section]:
        """Every key, by where it works, read from the bindings themselves."""
        ours = [b for _, b in self._bindings]
        acts = [b for b in ours if b.action.startswith("operator(")]
        sections: list[Section] = [
            (
                "Anywhere",
                quit_said_once([b for b in ours if b not in acts] + bindings_of(LiveScreen)),
            ),
            ("Operator actions (each asks first; refused with --read-only)", acts),
        ]
        screens = [
            ("Fleet", FleetScreen),
            ("Why (enter on a pool)", WhyScreen),
            ("Describe (i)", DescribeScreen),
            ("Pods", PodsScreen),
            ("Pod (enter on a pod)", PodScreen),
            ("Tenants", TenantsScreen),
            ("Events", EventsScreen),
            ("Attention (!)", AttentionScreen),
        ]
        sections += [(title, bindings_of(cls, only_ours=True)) for title, cls in screens]
        # Sorting is read from each table's columns, not bound key by key: one line for it.
        sort = Binding(
            "A-Z",
            "sort",
            "Sort",
            tooltip="sort by the column whose letter is underlined; again to reverse",
        )
        # N sorts every name column, POOL and POD too, which have no N to underline.
        by_name = Binding("N", "sort_by_name", "Sort by name")
        sections.append(("In every table", [*bindings_of(KeyedTable), by_name, sort]))
        return sections

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections()))

    # Operator actions

    def action_operator(self, name: str) -> None:
        self.run_operator_action(name)

    def run_operator_action(self, name: str) -> None:
        self.operator_actions.run(name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Once quitting, the app's actions (screens, help, operator actions) are off: what
        # they act on is being stopped. `q` again is taken, and changes nothing.
        return not self.quitting or action == "quit"

    async def action_quit(self) -> None:
        if self.watchdog is not None:
            self.watchdog.ask()
        if self.quitting:
            return
        self.quitting = True
        if self.stop_once.stop is not None:
            # The stop takes seconds when NATS does not answer, and the screen goes on
            # refreshing meanwhile: without a word, `q` looks ignored and is pressed again.
            self.notify(f"Quitting… (within {GRACE_S:.0f} s)", timeout=GRACE_S)
        # A worker, so that the app goes on reading its messages, this notice among them.
        self.run_worker(self._stop_and_exit(), group="quit")

    async def _stop_and_exit(self) -> None:
        await self.stop_once()
        self.exit()

    def _handle_exception(self, error: Exception) -> None:
        # An error nothing handled ends the app, and asyncio then cancels what it ran, once:
        # a cancel lost in nats.py (agentdash/cancelling.py) kept the process up for good, the
        # demo's fleet running under the traceback. The exit is asked for, as by `q`, so the
        # watchdog ends the process (its nats-server first, exit 1) if it has not gone by then.
        if self.watchdog is not None:
            self.watchdog.ask()
        super()._handle_exception(error)


def run_dashboard(feed: Feed, **kwargs: Any) -> None:
    AgentDashApp(feed, **kwargs).run()


def same_page(shown: object, opening: LiveScreen) -> bool:
    """Whether `opening` is the page already shown: the same kind, of the same pool (and pod)."""
    return (
        type(shown) is type(opening)
        and isinstance(shown, LiveScreen)
        and shown.selected_pool == opening.selected_pool
        and pod_name(shown) == pod_name(opening)
    )


def pod_name(screen: LiveScreen) -> str | None:
    pod = getattr(screen, "pod", None)
    return getattr(pod, "name", None)
