"""The Events screen: the whole event log, newest first, with a filter and the selected event
in full. It renders the log when the app hands it (agentdash.tui.live); it never reads a source
or sleeps."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from agentdash.tui.columns import Column
from agentdash.tui.footer import KeyBar
from agentdash.tui.live import LiveScreen, event_at, event_pool, event_row, event_text, update
from agentdash.tui.render import fit, room
from agentdash.tui.table import KeyedTable
from agentdash.tui.wrapping import KeptStatic
from controller.core.events import Event
from controller.runtime.snapshot import FleetSnapshot

CHANGE_WIDTH = (9, 17)
"""Events' CHANGE column: "120 → 200" at least, "resume controller" at most."""


def event_columns(change: int) -> list[Column]:
    return [
        Column("TIME", 8, priority=8),
        Column("KIND", 7, priority=6),
        Column("TARGET", 18, priority=9, min_width=12, sort="A"),
        Column("CHANGE", change, priority=7, min_width=min(change, CHANGE_WIDTH[0])),
        Column("DETAIL", None, min_width=20),
    ]


class EventsScreen(LiveScreen):
    AUTO_FOCUS = "#events"
    BINDINGS = [
        Binding("escape", "clear_or_back", "Back", tooltip="clear the filter, then back"),
        # Priority, and the focus moved at once: the words typed right after `/` are for the
        # field (in the field itself, `/` is a letter of the filter: check_action).
        Binding("slash", "filter", "Filter", priority=True),
        Binding("enter", "app.why", "Why"),
    ]

    def __init__(self) -> None:
        super().__init__(name="events")
        self._log: Sequence[Event] = ()
        self._pools: Collection[str] = ()

    @property
    def selected_event(self) -> Event | None:
        key = self.query_one("#events", KeyedTable).selected
        return None if key is None else event_at(self._log, key)

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        event = self.selected_event
        return None if event is None else event_pool(event, self._pools)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(placeholder="filter: pool, kind, rule or who", id="filter")
            yield KeyedTable(
                event_columns(CHANGE_WIDTH[0]), id="events", newest_first=True, enter="Why"
            )
            yield KeptStatic(id="detail")
        yield KeyBar()

    def on_data_table_row_highlighted(self) -> None:
        event = self.selected_event
        text = Text() if event is None else event_text(event)
        update(self.query_one("#detail", Static), text, key=("event", event))

    def on_data_table_row_selected(self) -> None:
        if self.selected_pool is None:
            self.notify("This event is not about a pool: nothing to explain", severity="warning")
            return
        self.app.action_why()  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self.query_one("#filter", Input).cursor_blink = False

    def on_input_submitted(self) -> None:
        self.query_one("#events", KeyedTable).focus()

    def on_input_changed(self) -> None:
        self.app.refresh_feed()  # type: ignore[attr-defined]

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        needle = self.query_one("#filter", Input).value.strip().casefold()
        rows = [event_row(e, i) for i, e in enumerate(log)]
        if needle:
            rows = [r for r in rows if needle in " ".join(map(str, r[1])).casefold()]
        # CHANGE is as wide as the widest change listed ("2 → 5", or "resume controller"):
        # DETAIL, the longest text, takes the rest.
        low, high = CHANGE_WIDTH
        change = min(high, max([low, *(len(str(cells[3])) for _, cells in rows)]))
        table = self.query_one("#events", KeyedTable)
        if table.column_width("CHANGE") != change:
            table.set_columns(event_columns(change))
        width = room(self.size.width, (8, 7, 18, change))
        rows = [(key, (*cells[:4], fit(cells[4], width))) for key, cells in rows]
        table.sync(rows[::-1])
        self._log, self._pools = tuple(log), {p.name for p in snapshot.pools}
        self.on_data_table_row_highlighted()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "filter" or not isinstance(self.focused, Input)

    def action_filter(self) -> None:
        self.set_focus(self.query_one("#filter", Input))

    def action_clear_or_back(self) -> None:
        """esc clears a filter first, as on Fleet; with none set it goes back."""
        field = self.query_one("#filter", Input)
        if field.value:
            field.value = ""  # (Input.Changed refreshes the list)
            self.set_focus(self.query_one("#events", KeyedTable))  # the next key is for it
        else:
            self.app.action_go_back()  # type: ignore[attr-defined]
