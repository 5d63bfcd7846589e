"""The Attention screen (`!`): what needs an operator now, and every override in force (who
set it, when, and when it ends). agentdash.tui.attention decides what is flagged."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from agentdash.tui.attention import ALARM, MARK, Flag, InForce
from agentdash.tui.columns import Column
from agentdash.tui.footer import KeyBar
from agentdash.tui.live import LiveScreen
from agentdash.tui.render import fit, room
from agentdash.tui.table import KeyedTable
from agentdash.tui.wrapping import KeptStatic
from controller.core.events import Event
from controller.core.model import moment, utc
from controller.runtime.snapshot import FleetSnapshot

FLAGS = [
    Column("WHAT", 18, priority=9, min_width=12),
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
    BINDINGS = [
        Binding("escape", "app.go_back", "Back"),
        Binding(
            "enter",
            "open_flag",
            "Open",
            tooltip="open what the flag is about: a pool's Why, a tenant's pools",
        ),
    ]

    def __init__(self) -> None:
        super().__init__(name="attention")
        self._flags: dict[str, Flag] = {}
        self._pools: frozenset[str] = frozenset()
        self._tenants: frozenset[str] = frozenset()

    @property
    def selected_flag(self) -> Flag | None:
        key = self.query_one("#flags", KeyedTable).selected
        return None if key is None else self._flags.get(key)

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        """The flagged pool, so that enter (why), i, w and x act on it."""
        flag = self.selected_flag
        return flag.target if flag is not None and flag.target in self._pools else None

    @property
    def selected_tenant(self) -> str | None:
        flag = self.selected_flag
        return flag.target if flag is not None and flag.target in self._tenants else None

    def compose(self) -> ComposeResult:
        yield Label("Needs attention", id="flags-title")
        yield KeyedTable(FLAGS, id="flags", enter="Open")
        yield KeptStatic(id="detail")
        yield Label("Overrides in force", id="in-force-title")
        yield KeyedTable(IN_FORCE, id="in-force")
        yield KeyBar()

    def on_data_table_row_highlighted(self) -> None:
        flag = self.selected_flag
        text = Text() if flag is None else Text(f"{flag.target}: {flag.detail}")
        self.query_one("#detail", Static).update(text)

    def on_data_table_row_selected(self) -> None:
        self.action_open_flag()

    def action_open_flag(self) -> None:
        if self.selected_pool is not None:
            self.app.action_why()  # type: ignore[attr-defined]
        elif self.selected_tenant is not None:
            self.app.action_pools_of_tenant()  # type: ignore[attr-defined]
        else:
            self.notify("This is about the whole controller: no pool to explain")

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        flags: list[Flag] = getattr(self.app, "flags", [])
        self._flags = {f"{flag.what}/{flag.target}": flag for flag in flags}
        self._pools = frozenset(row.name for row in snapshot.pools)
        self._tenants = frozenset(row.name for row in snapshot.tenants)
        in_force: list[InForce] = getattr(self.app, "in_force", [])
        width = room(self.size.width, (18, 18))  # WHAT and TARGET at their width
        self.query_one("#flags-title", Label).update(
            f"Needs attention: {len(flags)}" if flags else "Needs attention: nothing"
        )
        self.query_one("#flags", KeyedTable).sync(
            [
                (
                    key,
                    (
                        Text(
                            f"{MARK[flag.severity]} {flag.what}",
                            style="red bold" if flag.severity == ALARM else "yellow",
                        ),
                        flag.target,
                        fit(flag.detail, width),
                    ),
                )
                for key, flag in self._flags.items()
            ]
        )
        self.on_data_table_row_highlighted()  # the flag under the cursor may have changed
        self.query_one("#in-force-title", Label).update(
            f"Overrides in force: {len(in_force)}" if in_force else "Overrides in force: none"
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
                        "-" if item.since is None else moment(item.since, snapshot.ts),
                        _ends(item, snapshot.ts),
                    ),
                )
                for item in in_force
            ]
        )


def _ends(item: InForce, now: float) -> str:
    if item.until is not None:
        return utc(item.until, now)
    return {"pin": "when unpinned", "dry-run": "when turned off"}.get(item.kind, "when resumed")
