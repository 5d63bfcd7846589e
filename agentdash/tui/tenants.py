"""The Tenants screen: each tenant's tokens today against its budget, its burn rate, its pods
against its cap and whether it is paused. It renders a FleetSnapshot when the app hands it one
(agentdash.tui.live); it never reads a source or sleeps."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from agentdash.tui.columns import Column
from agentdash.tui.footer import KeyBar
from agentdash.tui.live import LiveScreen, tenant_wait
from agentdash.tui.render import Wait, budget_bar, duration, share, tokens
from agentdash.tui.table import KeyedTable
from controller.core.events import Event
from controller.runtime.snapshot import FleetSnapshot, PoolRow


class TenantsScreen(LiveScreen):
    AUTO_FOCUS = "#tenants"
    BINDINGS = [
        Binding("escape", "app.go_back", "Back"),
        Binding("enter", "app.pools_of_tenant", "Its pools"),
        # The app's `s`, early in this footer: here it is what one comes to do.
        Binding("s", "app.operator('pause_tenant')", "Pause/resume"),
    ]

    def __init__(self) -> None:
        super().__init__(name="tenants")
        self.said = title(["TOKENS TODAY", "LEFT"])

    @property
    def selected_tenant(self) -> str | None:
        return self.query_one("#tenants", KeyedTable).selected

    def on_data_table_row_selected(self) -> None:
        self.app.action_pools_of_tenant()  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Static(title(["TOKENS TODAY", "LEFT"]), id="title")
        yield KeyedTable(
            [
                Column("TENANT", 9, priority=10, sort="N"),
                Column("TIER", 10, priority=2),
                Column("TOKENS TODAY", 12, priority=3, sort="O"),
                Column("USED", 4, priority=8),
                Column("BURN/m", 6, priority=6),
                Column("LEFT", 5, priority=7),
                Column("PODS", 5, priority=5),
                Column("PAUSED", 6, priority=9, sort="A"),
                Column("WAIT", 6, priority=1, render=Wait.text, sort_value=Wait.order),
            ],
            id="tenants",
            enter="Its pools",
        )
        yield KeyBar()

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        rows = []
        pools: dict[str, list[PoolRow]] = {}
        for pool in snapshot.pools:
            pools.setdefault(pool.tenant, []).append(pool)
        for t in snapshot.tenants:
            used = share(t.tokens_today, t.budget) if t.budget else tokens(t.tokens_today)
            cap = f"{t.pods}/{t.max_pods}" if t.max_pods else str(t.pods)
            bar = budget_bar(t.tokens_today, t.budget, t.warn_at, 12)
            burn = tokens(int(t.burn_per_min))
            left_s = t.runs_out_in()
            left = "held" if t.held and not t.paused and left_s is None else duration(left_s)
            paused = "yes" if t.paused else ""
            wait = tenant_wait(pools.get(t.name, []))
            rows.append((t.name, (t.name, t.tier, bar, used, burn, left, cap, paused, wait)))
        table = self.query_one("#tenants", KeyedTable)
        table.sync(rows)
        said = title(table.columns_shown)
        if said != self.said:  # a Static's update lays the screen out again
            self.said = said
            self.query_one("#title", Static).update(said)


def title(columns: Sequence[str]) -> str:
    """The screen's title, explaining the columns shown that need it: at 60 columns the bar
    is gone, and the title that explained it was cut at "LEFT:". One line at 80 columns."""
    parts = ["Tenants"]
    if "TOKENS TODAY" in columns:
        parts.append("tokens today vs budget, │ the warn line")
    if "LEFT" in columns:
        parts.append("LEFT: until spent")
    return " · ".join(parts)
