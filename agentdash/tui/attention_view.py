"""The Attention screen (`!`): what needs an operator now, and every override in force (who
set it, when, and when it ends). agentdash.tui.attention decides what is flagged."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from agentdash.tui.attention import ALARM, Flag, InForce
from agentdash.tui.columns import Column
from agentdash.tui.footer import KeyBar
from agentdash.tui.live import LiveScreen
from agentdash.tui.render import clock, fit, room
from agentdash.tui.table import KeyedTable
from controller.core.events import Event
from controller.runtime.snapshot import FleetSnapshot

FLAGS = [
    Column("WHAT", 14, priority=9, min_width=10),
    Column("TARGET", 18, priority=8, min_width=12),
    Column("DETAIL", None, min_width=20),
]
IN_FORCE = [
    Column("OVERRIDE", 12, priority=9),
    Column("TARGET", 18, priority=8, min_width=12),
    Column("WHAT", 10, priority=6),
    Column("BY", 12, priority=5, min_width=8),
    Column("SET", 8, priority=7),
    Column("ENDS", None, min_width=15),
]


class AttentionScreen(LiveScreen):
    AUTO_FOCUS = "#flags"
    BINDINGS = [Binding("escape", "app.go_back", "Back")]

    def __init__(self) -> None:
        super().__init__(name="attention")

    def compose(self) -> ComposeResult:
        yield Label("Needs attention", id="flags-title")
        yield KeyedTable(FLAGS, id="flags")
        yield Label("Overrides in force", id="in-force-title")
        yield KeyedTable(IN_FORCE, id="in-force")
        yield KeyBar()

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        flags: list[Flag] = getattr(self.app, "flags", [])
        in_force: list[InForce] = getattr(self.app, "in_force", [])
        width = room(self.size.width, (14, 18))
        self.query_one("#flags-title", Label).update(
            f"Needs attention: {len(flags)}" if flags else "Needs attention: nothing"
        )
        self.query_one("#flags", KeyedTable).sync(
            [
                (
                    f"{flag.what}/{flag.target}",
                    (
                        Text(flag.what, style="red bold" if flag.severity == ALARM else "yellow"),
                        flag.target,
                        fit(flag.detail, width),
                    ),
                )
                for flag in flags
            ]
        )
        self.query_one("#in-force", KeyedTable).sync(
            [
                (
                    f"{item.kind}/{item.target}",
                    (
                        item.kind,
                        item.target,
                        item.what,
                        item.by or "unknown",
                        "-" if item.since is None else clock(item.since),
                        _ends(item),
                    ),
                )
                for item in in_force
            ]
        )


def _ends(item: InForce) -> str:
    if item.until is not None:
        return clock(item.until) + " UTC"
    return {"pin": "when unpinned", "dry-run": "when turned off"}.get(item.kind, "when resumed")
