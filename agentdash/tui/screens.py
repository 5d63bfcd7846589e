"""The dashboard's list screens: Fleet, Pods, Tenants and Events. Each renders a FleetSnapshot
(and the event log) when the app hands it one (agentdash.tui.live); none of them reads a
source or sleeps."""

from __future__ import annotations

import operator
from collections.abc import Collection, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Input, Label, Static

from agentdash.tui.attention import Flag
from agentdash.tui.columns import Column
from agentdash.tui.live import (
    LiveScreen,
    event_at,
    event_pool,
    event_row,
    event_text,
    header_text,
    pool_wait,
    reason_text,
    state_detail,
    state_style,
    tenant_wait,
)
from agentdash.tui.render import (
    Wait,
    age,
    budget_bar,
    clock,
    duration,
    fit,
    room,
    sparkline,
    tokens,
)
from agentdash.tui.table import KeyedTable, Row
from controller.core.events import Event, ScaleEvent
from controller.core.model import Pod
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
    Column("WAIT", 6, priority=3, render=Wait.text, sort_value=Wait.order),
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
    Column("PIN", 3, priority=5, fold_into="STATE"),
    Column("STATE", None, priority=9, min_width=14),
]
"""At 80 columns TIER goes first (Tenants and Why show it), then RATE/s and WAIT (Why shows
them): a pin stays in a column of its own, where STATE cannot cut it off. Narrower still, PIN
folds into STATE."""
RECENT = [
    Column("TIME", 8),
    Column("POOL", 18, min_width=12, sort="N"),
    Column("CHANGE", 7),
    Column("WHY", None, min_width=20),
]


class FleetScreen(LiveScreen):
    AUTO_FOCUS = "#pools"
    BINDINGS = [Binding("enter", "app.why", "Why"), Binding("slash", "filter", "Filter")]

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
        yield Static(id="detail")
        yield Label("Recent scale events", id="recent-title")
        yield KeyedTable(RECENT, id="recent", newest_first=True)
        yield Footer()

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        return self.query_one("#pools", KeyedTable).selected

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        flags: Sequence[Flag] = getattr(self.app, "flags", ())
        self.query_one("#summary", Static).update(header_text(snapshot, self.read_only, flags))
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
        if self.filter.startswith("tenant:"):  # what Enter on a tenant asks for: exactly it
            return pool.tenant == self.filter.removeprefix("tenant:").strip()
        return self.filter in pool.name + " " + pool.tenant

    def _show_detail(self) -> None:
        """The detail pane: the selected recent event in full when that table has the focus,
        else the selected pool, its state and why."""
        if self._snapshot is None:
            return
        text = Text()
        recent = self.query_one("#recent", KeyedTable)
        if self.focused is recent and recent.selected is not None:
            event = event_at(self._log, recent.selected)
            if event is not None:
                text = event_text(event)
        else:
            name = self.selected_pool
            pool = next((p for p in self._snapshot.pools if p.name == name), None)
            if pool is not None:
                text = pool_detail(pool, self._log)
        self.query_one("#detail", Static).update(text)

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

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.remove_class("hidden")
        field.cursor_blink = False
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = event.value.strip()
        self.app.refresh_feed()  # type: ignore[attr-defined]

    def on_input_submitted(self) -> None:
        self.query_one("#pools", KeyedTable).focus()

    def key_escape(self) -> None:
        field = self.query_one("#filter", Input)
        if not field.has_class("hidden"):
            field.value = ""
            field.add_class("hidden")
            self.filter = ""
            self.query_one("#pools", KeyedTable).focus()


class PodsScreen(LiveScreen):
    AUTO_FOCUS = "#pods"
    BINDINGS = [
        Binding("escape", "app.go_back", "Back"),
        Binding("a", "all", "All pools"),
        Binding("enter", "app.pod", "Pod detail"),
    ]

    def __init__(self, pool: str | None) -> None:
        super().__init__(name="pods")
        self.pool = pool
        self.now = 0.0
        self._pods: Sequence[Pod] = ()

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        """The pool shown, or with all pools shown, the selected pod's."""
        pod = self.selected_pod
        return self.pool or (pod.pool if pod else None)

    @property
    def selected_pod(self) -> Pod | None:
        name = self.query_one("#pods", KeyedTable).selected
        return next((p for p in self._pods if p.name == name), None)

    def on_data_table_row_selected(self) -> None:
        self.app.action_pod()  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield KeyedTable(
            [
                Column("POD", 23, priority=10, sort="N"),
                Column("POOL", 17, priority=5),
                Column("PHASE", 11, priority=6),
                Column("AGE", 5, priority=7, render=self._age, sort_value=operator.neg),
                Column("RDY", 3, priority=4),
                Column("TASK", None, min_width=7, priority=3),
            ],
            id="pods",
            enter="Pod detail",
        )
        yield Footer()

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        self.now = snapshot.ts
        if self.pool is None:
            pods: Sequence[Pod] = snapshot.pods  # pool by pool, as the controller lists them
        else:
            pods = sorted(
                (p for p in snapshot.pods if p.pool == self.pool),
                key=lambda p: (p.started_at, p.name),
            )
        self._pods = snapshot.pods
        where = f"pool {self.pool}" if self.pool else "all pools"
        ready = sum(p.ready for p in pods)
        said = f"{len(pods)}, {ready} ready"
        feed = self.app.feed  # type: ignore[attr-defined]
        if not pods and snapshot.leader is not None and feed.simulated_cluster:
            said = "in the leader's process (--cluster simulated)"
        self.query_one("#title", Static).update(f"Pods of {where}: {said}")
        # AGE holds the start time and is drawn for the rows on screen alone (see _age).
        self.query_one("#pods", KeyedTable).sync(
            [
                (
                    p.name,
                    (
                        p.name,
                        p.pool,
                        p.waiting or p.phase,  # as k9s's STATUS: ImagePullBackOff, not Pending
                        p.started_at,
                        "yes" if p.ready else "no",
                        p.task or "-",
                    ),
                )
                for p in pods
            ]
        )

    def _age(self, started_at: float) -> str:
        return age(self.now - started_at)

    def action_all(self) -> None:
        self.pool = None
        self.app.refresh_feed()  # type: ignore[attr-defined]


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

    @property
    def selected_tenant(self) -> str | None:
        return self.query_one("#tenants", KeyedTable).selected

    def on_data_table_row_selected(self) -> None:
        self.app.action_pools_of_tenant()  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        # One line at 80 columns (78 inside the padding).
        yield Static(
            "Tenants · tokens today vs budget, │ the warn line · LEFT: until spent", id="title"
        )
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
        yield Footer()

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        rows = []
        pools: dict[str, list[PoolRow]] = {}
        for pool in snapshot.pools:
            pools.setdefault(pool.tenant, []).append(pool)
        for t in snapshot.tenants:
            share = f"{t.tokens_today / t.budget:.0%}" if t.budget else tokens(t.tokens_today)
            cap = f"{t.pods}/{t.max_pods}" if t.max_pods else str(t.pods)
            bar = budget_bar(t.tokens_today, t.budget, t.warn_at, 12)
            burn, left = tokens(int(t.burn_per_min)), duration(t.runs_out_in())
            paused = "yes" if t.paused else ""
            wait = tenant_wait(pools.get(t.name, []))
            rows.append((t.name, (t.name, t.tier, bar, share, burn, left, cap, paused, wait)))
        self.query_one("#tenants", KeyedTable).sync(rows)


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
        Binding("escape", "app.go_back", "Back"),
        Binding("slash", "filter", "Filter"),
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
            yield Static(id="detail")
        yield Footer()

    def on_data_table_row_highlighted(self) -> None:
        event = self.selected_event
        self.query_one("#detail", Static).update(Text() if event is None else event_text(event))

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
        needle = self.query_one("#filter", Input).value.strip().lower()
        rows = [event_row(e, i) for i, e in enumerate(log)]
        if needle:
            rows = [r for r in rows if needle in " ".join(map(str, r[1])).lower()]
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

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()
