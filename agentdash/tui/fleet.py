"""The Fleet screen, the dashboard's home: every pool in one table with a filter, the selected
pool's state and why under it, and the last scale events. It renders a FleetSnapshot (and the
event log) when the app hands it one (agentdash.tui.live); it never reads a source or sleeps."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Label, Static

from agentdash.tui.attention import Flag
from agentdash.tui.columns import Column
from agentdash.tui.footer import KeyBar
from agentdash.tui.live import (
    LiveScreen,
    event_at,
    event_row,
    event_text,
    header_text,
    pool_wait,
    reason_text,
    state_detail,
    state_style,
    update,
)
from agentdash.tui.render import Wait, clock, sparkline
from agentdash.tui.table import KeyedTable, Row
from agentdash.tui.wrapping import KeptStatic
from controller.core.events import Event, ScaleEvent
from controller.runtime.snapshot import FleetSnapshot, PoolRow


def pool_detail(pool: PoolRow, log: Sequence[Event]) -> Text:
    """The selected pool, readable at any width: its state and why, the rule that bound its
    last decision, and its last scale event."""
    text = Text.assemble((pool.name, "bold"), "  ", (pool.state, state_style(pool.state)))
    detail = state_detail(pool)
    kind = pool.state.split(" ")[0]
    text.append(f": {detail.removeprefix(f'{kind}: ')}")  # not "starved: starved: ..."
    main = pool.decision.main_reason if pool.decision else None
    if main is not None and main.detail not in detail:  # not the same words twice
        text.append(f"\nDecided: {reason_text(main.rule, main.detail)}")
    if pool.next_step:
        text.append("\nNext: ", style="bold")
        text.append(pool.next_step)
    last = next(
        (e for e in reversed(log) if isinstance(e, ScaleEvent) and e.pool == pool.name), None
    )
    if last is not None:
        why = reason_text(last.reasons[-1].rule, last.reasons[-1].detail) if last.reasons else ""
        dry = " (dry-run)" if last.dry_run else ""
        text.append(f"\nLast scale {clock(last.ts)}: {last.old} → {last.new}{dry}, {why}")
    return text


POOLS = [
    Column("POOL", 18, priority=10, min_width=17, sort="N"),
    Column("TENANT", 8, priority=6, min_width=7),
    Column("TIER", 10, priority=1),
    Column("LAG", 4, priority=8),
    Column("WAIT", 6, priority=5, render=Wait.text, sort_value=Wait.order),
    Column(
        "TREND",
        12,
        priority=4,
        min_width=8,
        sort="",
        crop_left=True,
        render=lambda trend: sparkline(trend, 12),
    ),  # drawn for the rows in view alone
    Column("RATE/s", 6, priority=3),
    Column("REPLICAS", 8, priority=8),
    Column("PIN", 3, priority=2, fold_into="STATE"),
    Column("STATE", None, priority=9, min_width=14),
]
"""At 80 columns TIER goes first (Tenants and Why show it), then PIN, folded into STATE as
"steady, pin 3" (a pin that binds says "pinned" in STATE itself), then RATE/s (Why shows it).
WAIT stays: how long the oldest task has waited, against its tier's target, is what an
operator acts on. Narrower still, TREND goes, then WAIT."""
RECENT = [
    Column("TIME", 8),
    Column("POOL", 18, min_width=12, sort="N"),
    Column("CHANGE", 7),
    Column("WHY", None, min_width=20),
]


class FleetScreen(LiveScreen):
    AUTO_FOCUS = "#pools"
    BINDINGS = [
        Binding("enter", "app.why", "Why"),
        # Priority, and the focus moved at once: the words typed right after `/` are for the
        # field (in the field itself, `/` is a letter of the filter: check_action).
        Binding("slash", "filter", "Filter", priority=True),
        Binding("escape", "clear_filter", "Clear the filter", show=False),
    ]

    def __init__(self, read_only: bool = False) -> None:
        super().__init__(name="fleet")
        self.read_only = read_only
        self.filter = ""
        self._snapshot: FleetSnapshot | None = None
        self._log: Sequence[Event] = ()

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        yield Input(
            placeholder="filter pools, or tenant:NAME (esc to clear)", id="filter", classes="hidden"
        )
        yield KeyedTable(POOLS, id="pools", enter="Why")
        yield KeptStatic(id="detail")
        yield Label("Recent scale events", id="recent-title")
        yield KeyedTable(RECENT, id="recent", newest_first=True)
        yield KeyBar()

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        return self.query_one("#pools", KeyedTable).selected

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        flags: Sequence[Flag] = getattr(self.app, "flags", ())
        summary = self.query_one("#summary", Static)
        width = self.app.size.width - summary.styles.gutter.width
        update(summary, header_text(snapshot, self.read_only, flags, width))
        rows = [self._row(p) for p in snapshot.pools if self._matches(p)]
        self.query_one("#pools", KeyedTable).sync(rows)
        shown = {key for key, _ in rows}  # the recent events follow the filter
        scale = [
            (i, e)
            for i, e in enumerate(log)
            if isinstance(e, ScaleEvent)
            and not e.dry_run  # dry-run events are in Events only: nothing was scaled
            and (not self.filter or e.pool in shown)
        ][-50:]
        recent = []
        for i, event in reversed(scale):
            key, (when, _, pool, change, why) = event_row(event, i)
            recent.append((key, (when, pool, change, why)))
        self.query_one("#recent", KeyedTable).sync(recent)
        self._snapshot, self._log = snapshot, tuple(log)
        self._show_detail()

    def _matches(self, pool: PoolRow) -> bool:
        # Whatever the case, as the Events filter: `ACME` finds acme's pools.
        needle = self.filter.casefold()
        if needle.startswith("tenant:"):  # what Enter on a tenant asks for: exactly it
            return pool.tenant.casefold() == needle.removeprefix("tenant:").strip()
        return needle in f"{pool.name} {pool.tenant}".casefold()

    def _show_detail(self) -> None:
        """The detail pane: the selected recent event in full when that table has the focus,
        else the selected pool, its state and why."""
        if self._snapshot is None:
            return
        text: RenderableType = Text()
        key: object = None  # what the pane shows, where `text` does not compare
        recent = self.query_one("#recent", KeyedTable)
        if self.focused is recent and recent.selected is not None:
            event = event_at(self._log, recent.selected)
            if event is not None:
                text, key = event_text(event), ("event", event)
        else:
            name = self.selected_pool
            pool = next((p for p in self._snapshot.pools if p.name == name), None)
            if pool is not None:
                text = pool_detail(pool, self._log)
            elif self.filter and self.query_one("#pools", KeyedTable).row_count == 0:
                text = Text(f"No pool matches {self.filter!r} (esc clears the filter)")
        update(self.query_one("#detail", Static), text, key)

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def on_descendant_focus(self) -> None:
        self._show_detail()

    def filter_tenant(self, tenant: str) -> None:
        """Show only this tenant's pools (Enter on the Tenants screen); esc shows them all."""
        field = self.query_one("#filter", Input)
        field.remove_class("hidden")
        field.cursor_blink = False
        with field.prevent(Input.Changed):  # one refresh, the app's, not a second one racing it
            field.value = self.filter = f"tenant:{tenant}"
        self.query_one("#pools", KeyedTable).focus()

    @staticmethod
    def _row(pool: PoolRow) -> Row:
        rate = "-" if pool.arrival_rate is None else f"{pool.arrival_rate:.1f}"
        replicas = f"{pool.replicas}/{pool.desired}/{pool.ready}"
        pin = "-" if pool.pin is None else str(pool.pin)
        state = Text(pool.state, style=state_style(pool.state))
        return pool.name, (
            pool.name,
            pool.tenant,
            pool.tier,
            str(pool.lag),
            pool_wait(pool),
            pool.trend,
            rate,
            replicas,
            pin,
            state,
        )

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        if event.data_table.id == "pools":
            self.app.action_show("why")  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "filter" or not isinstance(self.focused, Input)

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.remove_class("hidden")
        field.cursor_blink = False
        self.set_focus(field)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = event.value.strip()
        self.app.refresh_feed()  # type: ignore[attr-defined]

    def on_input_submitted(self) -> None:
        self.query_one("#pools", KeyedTable).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if not field.has_class("hidden"):
            field.value = ""
            field.add_class("hidden")
            self.filter = ""
            # At once, not when the app is next idle: a key right behind esc is for the table.
            self.set_focus(self.query_one("#pools", KeyedTable))
