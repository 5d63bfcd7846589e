"""Why: the last decision for one pool, step by step, with the numbers, and its recent scale
events. Steps that bound say how; steps that did not bind still show what was checked."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from agentdash.tui.footer import KeyBar
from agentdash.tui.live import LiveScreen, event_row, pool_wait
from agentdash.tui.render import fit, room, share, tokens
from agentdash.tui.table import KeyedTable
from agentdash.tui.wrapping import KeptText
from controller.core.config import Config, PoolConfig
from controller.core.events import Event, ScaleEvent
from controller.core.model import Reason
from controller.core.printable import printable
from controller.core.wording import plural
from controller.runtime.snapshot import FleetSnapshot, PoolRow

BOUND_BY = {
    "demand": "demand",
    "arrival": "demand",
    "pin": "floor",
    "min_replicas": "floor",
    "paused": "floor",
    "budget exhausted": "budget",
    "budget spent": "budget",
    "budget warning": "budget",
    "budget uncounted": "budget",
    "max_replicas": "ceilings",
    "provider rpm": "ceilings",
    "tenant max_pods": "ceilings",
    "cluster max_pods": "ceilings",
    "cooldown": "time",
    "stabilization": "time",
    "rate limit": "time",
    "tolerance": "time",
    "keep-alive": "time",
    "pre-warm": "time",
    "at work": "time",
    "landing": "time",
    "fallback": "data",
    "latency objective": "demand",
    "stale": "data",
    "no observation": "data",
    "pool paused": "floor",
    "controller paused": "floor",
}
STEPS = ("data", "demand", "floor", "budget", "ceilings", "time")


def explain(config: Config, pool: PoolRow, snapshot: FleetSnapshot) -> Group:
    """The decision as numbered steps: what bound, and what was checked and passed."""
    cfg = config.pools[pool.name]
    tenant = config.tenants[pool.tenant]
    usage = next((t for t in snapshot.tenants if t.name == pool.tenant), None)
    decision = pool.decision
    title = Text()
    title.append(pool.name, style="bold")
    title.append(
        f" · tenant {pool.tenant} ({pool.tier}) · {pool.replicas} → {pool.desired} "
        f"replicas, {pool.ready} ready\n"
    )
    wait = pool_wait(pool)
    title.append("Waiting: ", style="bold")
    title.append(wait.said() + "\n", style="red bold" if wait.over else "")
    if decision is None:
        return Group(title, Text("No decision yet: the controller has not ticked for this pool."))
    bound: dict[str, list[str]] = {}
    for reason in decision.reasons:
        bound.setdefault(BOUND_BY.get(reason.rule, "ceilings"), []).append(
            printable(f"{reason.rule}: {reason.detail}")  # a follower's are from NATS
        )
    _pin_set_aside(pool, decision.reasons, bound)
    checked = {
        "data": f"queue read: pending {pool.pending}, ack_pending {pool.ack_pending}, "
        + ("rate unknown" if pool.arrival_rate is None else f"{pool.arrival_rate:.2f} tasks/s"),
        "demand": f"lag {pool.lag} / {cfg.target_lag_per_replica:g} per replica",
        "floor": f"min_replicas {cfg.min_replicas}, "
        + ("no pin" if pool.pin is None else f"pinned at {pool.pin}")
        + ": not above demand",
        "budget": "unlimited"
        if tenant.daily_token_budget is None or usage is None
        else f"{tokens(usage.tokens_today)} of {tokens(tenant.daily_token_budget)} tokens today "
        f"({share(usage.tokens_today, tenant.daily_token_budget)}; warn at {tenant.warn_at:.0%})",
        "ceilings": f"max_replicas {cfg.max_replicas}"
        + (
            f", provider {cfg.provider} {config.providers[cfg.provider].rpm} rpm "
            f"({cfg.rpm_per_replica:g} a replica)"
            if cfg.provider
            else ""
        )
        + (f", tenant max_pods {tenant.max_pods}" if tenant.max_pods else "")
        + f", cluster max_pods {config.cluster.max_pods}: room enough",
        "time": _time_rules(cfg) + ": not binding",
    }
    steps = Table.grid(padding=(0, 1))
    steps.add_column(no_wrap=True, style="bold")
    steps.add_column()
    for number, step in enumerate(STEPS, 1):
        if step in bound:
            steps.add_row(f"{number}. {step}", KeptText("\n".join(bound[step]), style="yellow"))
        else:
            steps.add_row(f"{number}. {step}", KeptText(checked[step], style="dim"))
    main = decision.main_reason
    last = KeptText.assemble(("\nMain reason: ", "bold"), printable(f"{main.rule}: {main.detail}"))
    if pool.next_step:
        last.append_text(Text.assemble(("\nNext: ", "bold"), pool.next_step))
    return Group(title, steps, last)


PAUSES = {"paused": "its tenant is paused", "pool paused": "the pool is paused"}
"""A pause that decides a pool before its floor: a pin of it is not in force meanwhile."""


def _pin_set_aside(pool: PoolRow, reasons: Sequence[Reason], bound: dict[str, list[str]]) -> None:
    """Under the floor, a pin a pause sets aside: the Fleet table shows the pin, and the
    floor said only the pause, as if the pin were not there or were kept."""
    if pool.pin is None:
        return
    for reason in reasons:
        if reason.rule in PAUSES:
            pin = plural(pool.pin, "replica")
            said = f"pin: {pin}, not in force while {PAUSES[reason.rule]}"
            bound.setdefault("floor", []).append(said)
            return


EVENT_ROWS = 2
BELOW_THE_BODY = 2 + 1 + EVENT_ROWS + 1
"""The events' title (a blank line above it), their table's header and rows, the footer."""


class WhyScreen(LiveScreen):
    AUTO_FOCUS = "#pool-events"
    BINDINGS = [Binding("escape", "app.go_back", "Back"), Binding("p", "app.show('pods')", "Pods")]

    def __init__(self, pool: str, config: Config) -> None:
        super().__init__(name="why")
        self.pool = pool
        self.config = config

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        return self.pool

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="why-body"):
            yield Static(id="steps")
        yield Label("Recent scale events of this pool", id="recent-title")
        yield KeyedTable(
            [("TIME", 8), ("CHANGE", 15), ("WHY", None)], id="pool-events", newest_first=True
        )
        yield KeyBar()

    def on_resize(self, event: events.Resize) -> None:
        # The decision takes what it needs, as long as the pool's events keep EVENT_ROWS: at
        # 80x24 a decision with a latency objective lost its main reason and what comes next
        # below the fold of a body no key scrolls, over a table of one event.
        left = event.size.height - BELOW_THE_BODY
        self.query_one("#why-body").styles.max_height = max(left, event.size.height * 0.5)

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        pool = next((p for p in snapshot.pools if p.name == self.pool), None)
        if pool is None:
            return
        self.query_one("#steps", Static).update(explain(self.config, pool, snapshot))
        rows = []
        width = room(self.size.width, (8, 15))  # CHANGE holds "12 → 20 (would)" of a dry run
        for i, event in enumerate(log):
            if isinstance(event, ScaleEvent) and event.pool == self.pool:
                key, (when, _, _, change, why) = event_row(event, i)
                rows.append((key, (when, change, fit(why, width))))
        self.query_one("#pool-events", KeyedTable).sync(rows[::-1][:50])


def _time_rules(cfg: PoolConfig) -> str:
    """The pool's time rules as configured: the learned keep-alive, or the fixed windows."""
    up = cfg.behavior.scale_up
    if cfg.learns_keep_alive:
        weight = cfg.keep_alive.wait_weight
        return (
            f"learned keep-alive (a second of waiting weighs {weight:g} s of an idle pod), "
            f"stabilization {up.stabilization_seconds:g} s up, rate {up.describe()} up"
        )
    down = cfg.behavior.scale_down
    return (
        f"cooldown {cfg.cooldown_seconds:g} s, stabilization {up.stabilization_seconds:g} s up "
        f"/ {down.stabilization_seconds:g} s down, rate {up.describe()} up, "
        f"{down.describe()} down"
    )
