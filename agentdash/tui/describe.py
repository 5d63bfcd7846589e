"""Detail views: `describe` of one pool (`i`: its config as resolved, its Deployment, its last
decisions with every reason, its pins and pauses) and one pod (Enter on the Pods screen)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from agentdash.tui.cluster_events import ClusterEvents
from agentdash.tui.footer import KeyBar
from agentdash.tui.live import (
    LiveScreen,
    pool_wait,
    reason_text,
    state_detail,
    state_style,
)
from agentdash.tui.render import age, clock, duration
from agentdash.tui.timeline_plot import TimelinePlot
from agentdash.tui.wrapping import KeptText
from controller.core.behavior import ScalingRule
from controller.core.config import Config, PoolConfig
from controller.core.events import Event, ScaleEvent
from controller.core.model import ClusterEvent, Overrides, Pod, Reason, utc
from controller.core.printable import printable
from controller.core.wording import plural
from controller.runtime.snapshot import FleetSnapshot, PoolRow
from controller.runtime.timeline import Point

EventsOf = Callable[[str, str | None], Awaitable[Sequence[ClusterEvent] | None]]
"""The cluster's Events of a pool's Deployment (pod None) or of one of its pods."""

DECISIONS = 10
"""Scale events of the pool shown, newest first."""
NAME_WIDTH = 13


def fields(title: str, rows: Sequence[tuple[str, str | Text]]) -> Group:
    """Named values down the page; a value given as a string is shown as text, printable
    (a pin's author, a pod's task come from NATS), never read as markup."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True, width=NAME_WIDTH)  # one column down the page
    grid.add_column()
    for name, value in rows:
        grid.add_row(name, value if isinstance(value, Text) else KeptText(printable(value)))
    return Group(Text(title, style="bold underline"), grid, Text())


def rule_text(rule: ScalingRule) -> str:
    text = f"stabilization {rule.stabilization_seconds:g} s, rate {rule.describe()}"
    return text + (f", tolerance {rule.tolerance:.0%}" if rule.tolerance else "")


def config_rows(config: Config, name: str) -> list[tuple[str, str | Text]]:
    pool: PoolConfig = config.pools[name]
    queue = f"{pool.queue.stream} / consumer {pool.queue.consumer}, subject {config.subject(name)}"
    rows: list[tuple[str, str | Text]] = [
        ("tenant", f"{pool.tenant} (tier {config.tier_of[name]})"),
        ("queue", queue),
        ("deployment", str(pool.deployment)),
        ("replicas", f"min {pool.min_replicas}, max {pool.max_replicas}"),
        (
            "target lag",
            f"{pool.target_lag_per_replica:g} per replica, activation at {pool.activation_lag}",
        ),
        ("concurrency", f"{pool.concurrency} task(s) a pod"),
        (
            "cold start",
            f"{pool.cold_start_seconds:g} s; cooldown to 0 after {pool.cooldown_seconds:g} s idle",
        ),
        ("scale up", rule_text(pool.behavior.scale_up)),
        ("scale down", rule_text(pool.behavior.scale_down)),
    ]
    if pool.provider:
        rpm = config.providers[pool.provider].rpm
        rows.append(("provider", f"{pool.provider}, {rpm} rpm, {pool.rpm_per_replica:g} rpm a pod"))
    if pool.fallback:
        rows.append(
            (
                "fallback",
                f"{plural(pool.fallback.replicas, 'replica')} after "
                f"{pool.fallback.failure_threshold} failed reads",
            )
        )
    return rows


def until(when: float | None, now: float) -> str:
    if when is None:
        return "until lifted"
    left = "expired" if when <= now else f"{duration(when - now)} left"
    return f"until {utc(when, now)} ({left})"


def overrides_rows(overrides: Overrides, row: PoolRow, now: float) -> list[tuple[str, str | Text]]:
    pool, tenant = row.name, row.tenant
    pin = overrides.pins.get(pool)
    pinned = "none"
    if pin is not None:
        pinned = (
            f"at least {plural(pin.replicas, 'replica')} {until(pin.until, now)}, "
            f"by {pin.by or 'unknown'}"
        )
    rows: list[tuple[str, str | Text]] = [("pin", pinned)]
    # A pool's own pause comes with the pool-pause change; until then there is none to show.
    pause = getattr(overrides, "paused_pools", {}).get(pool)
    if pause is not None:
        hold = (
            "held where it is"
            if pause.replicas is None
            else f"at {plural(pause.replicas, 'replica')}"
        )
        rows.append(("pool paused", f"{hold} {until(pause.until, now)}, by {pause.by}"))
    else:
        rows.append(("pool paused", "no"))
    paused_tenant = tenant in overrides.paused_tenants
    rows.append(("tenant paused", "yes: its pools go to 0" if paused_tenant else "no"))
    controller = "paused: replicas held" if overrides.paused else "running"
    rows.append(("controller", controller + (", dry-run" if overrides.dry_run else "")))
    return rows


def reasons_text(reasons: Sequence[Reason]) -> str:
    return "\n".join(reason_text(r.rule, r.detail) for r in reasons)


def scale_events(pool: str, log: Sequence[Event]) -> list[ScaleEvent]:
    """The pool's last DECISIONS scale events, newest first."""
    events = [e for e in reversed(log) if isinstance(e, ScaleEvent) and e.pool == pool]
    return events[:DECISIONS]


def decisions_table(pool: PoolRow, log: Sequence[Event]) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("TIME", no_wrap=True)
    table.add_column("CHANGE", no_wrap=True)
    table.add_column("REASONS, in the order they applied")
    if pool.decision is not None:
        now = f"{pool.decision.current} → {pool.decision.desired}"
        table.add_row("now", now, KeptText(reasons_text(pool.decision.reasons)), style="bold")
    for event in scale_events(pool.name, log):
        change = f"{event.old} → {event.new}" + (" dry-run" if event.dry_run else "")
        table.add_row(clock(event.ts), change, KeptText(reasons_text(event.reasons)))
    return table


PAGE_KEYS = [
    Binding("j", "page(1)", "Scroll down", show=False),
    Binding("k", "page(-1)", "Scroll up", show=False),
    Binding("g", "page_end(False)", "Top", show=False),
    Binding("G", "page_end(True)", "Bottom", show=False),
]
"""A page scrolls with the keys of the tables and of the help too, not with the arrows alone
(j did nothing on describe); the help lists them after the screen's own keys."""


class PageScreen(LiveScreen):
    """A screen that is one page to read (its bindings end with PAGE_KEYS)."""

    BODY = ""
    """The id of the screen's VerticalScroll."""

    def action_page(self, lines: int) -> None:
        self.query_one(f"#{self.BODY}", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_page_end(self, end: bool) -> None:
        body = self.query_one(f"#{self.BODY}", VerticalScroll)
        if end:
            body.scroll_end(animate=False)
        else:
            body.scroll_home(animate=False)


class DescribeScreen(PageScreen):
    """Everything about one pool on one page (`i`), as k9s's describe."""

    BODY = "describe-body"
    AUTO_FOCUS = f"#{BODY}"
    BINDINGS = [
        Binding("escape", "app.go_back", "Back"),
        Binding("enter", "app.why", "Why"),
        *PAGE_KEYS,
    ]

    def __init__(
        self,
        pool: str,
        config: Config,
        overrides: Callable[[], Overrides],
        timeline: Callable[[str, float], list[Point]] | None = None,
        events_of: EventsOf | None = None,
    ) -> None:
        super().__init__(name="describe")
        self.pool = pool
        self.config = config
        self.overrides = overrides
        self.timeline = timeline
        self.events_of = events_of
        self._shown: dict[str, object] = {}
        """Per part of the page, what it was last drawn from."""

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        return self.pool

    def _draw(self, part: str, shows: object, make: Callable[[], RenderableType]) -> None:
        """Draw a part of the page again only if what it shows changed: laying the page out
        anew every second took Describe to three times the Fleet screen's CPU."""
        if part in self._shown and self._shown[part] == shows:
            return
        self._shown[part] = shows
        self.query_one(f"#{part}", Static).update(make())

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with VerticalScroll(id="describe-body"):
            yield Static(id="describe")
            yield TimelinePlot(id="timeline")
            yield Static(id="decisions")
            if self.events_of is not None:
                events_of = self.events_of
                yield ClusterEvents(lambda: events_of(self.pool, None))
        yield KeyBar()

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        pool = next((p for p in snapshot.pools if p.name == self.pool), None)
        if pool is None:
            return
        state = (pool.state, state_style(pool.state))
        title = Text.assemble("Describe pool ", (pool.name, "bold"), "  ", state)
        self._draw("title", title, lambda: title)
        pods = [p for p in snapshot.pods if p.pool == pool.name]
        kind = pool.state.split(" ")[0]  # not "starved: starved: ..."
        deployment: list[tuple[str, str | Text]] = [
            ("replicas", f"{pool.replicas} now, {pool.desired} desired, {pool.ready} ready"),
            (
                "pods",
                f"{len(pods)}, {sum(p.ready for p in pods)} ready, "
                f"{sum(p.task is not None for p in pods)} busy",
            ),
            (
                "queue",
                f"lag {pool.lag} (pending {pool.pending}, ack pending {pool.ack_pending})"
                + (
                    ""
                    if pool.arrival_rate is None
                    else f", {pool.arrival_rate:.2f} tasks/s arriving"
                ),
            ),
            ("waiting", _waiting(pool)),
            ("state", f"{pool.state}: {state_detail(pool).removeprefix(f'{kind}: ')}"),
        ]
        pins = overrides_rows(self.overrides(), pool, snapshot.ts)
        self._draw("describe", (deployment, pins), lambda: self._about(pool.name, deployment, pins))
        points = [] if self.timeline is None else self.timeline(pool.name, snapshot.ts)
        self.query_one("#timeline", TimelinePlot).show(points, snapshot.ts)
        last = (pool.decision, scale_events(pool.name, log))
        self._draw("decisions", last, lambda: _decisions(pool, log))
        for events in self.query(ClusterEvents):
            events.at(snapshot.ts)

    def _about(
        self,
        pool: str,
        deployment: list[tuple[str, str | Text]],
        pins: list[tuple[str, str | Text]],
    ) -> Group:
        return Group(
            fields("Config (as resolved)", config_rows(self.config, pool)),
            fields(f"Deployment {self.config.pools[pool].deployment}", deployment),
            fields("Pins and pauses", pins),
        )


def _decisions(pool: PoolRow, log: Sequence[Event]) -> Group:
    return Group(
        Text("\nLast decisions, newest first", style="bold underline"),
        decisions_table(pool, log),
    )


def _waiting(pool: PoolRow) -> Text:
    """How long its oldest task has waited for a worker, marked when over its tier's target."""
    wait = pool_wait(pool)
    return Text(wait.said(), style="red bold" if wait.over else "")


def waiting_row(pod: Pod) -> list[tuple[str, str]]:
    """Why the pod does not run yet, with the API's words on it, if something waits."""
    if pod.waiting is None:
        return []
    said = f": {pod.waiting_message}" if pod.waiting_message else ""
    return [("waiting", f"{pod.waiting}{said}")]


class PodScreen(PageScreen):
    """One pod (Enter on the Pods screen). A pod that goes away stays shown, marked gone."""

    BODY = "pod-body"
    AUTO_FOCUS = f"#{BODY}"  # its Events may run past the page
    BINDINGS = [Binding("escape", "app.go_back", "Back"), *PAGE_KEYS]

    def __init__(self, pod: Pod, events_of: EventsOf | None = None) -> None:
        super().__init__(name="pod")
        self.pod = pod
        self.gone_at: float | None = None
        self.seen_at: float | None = None
        """The last snapshot that had the pod: a gone pod's age is told as of then."""
        self.events_of = events_of

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        return self.pod.pool

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with VerticalScroll(id="pod-body"):
            yield Static(id="pod")
            if self.events_of is not None:
                events_of = self.events_of
                yield ClusterEvents(lambda: events_of(self.pod.pool, self.pod.name))
        yield KeyBar()

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        now = next((p for p in snapshot.pods if p.name == self.pod.name), None)
        if now is not None:
            self.pod, self.gone_at, self.seen_at = now, None, snapshot.ts
        elif self.gone_at is None:
            self.gone_at = snapshot.ts
        pod = self.pod
        tenant = next((p.tenant for p in snapshot.pools if p.name == pod.pool), "?")
        title = Text.assemble("Pod ", (printable(pod.name), "bold"))
        if self.gone_at is not None:
            title.append(f"  gone at {clock(self.gone_at)} UTC: last seen as below", style="red")
        self.query_one("#title", Static).update(title)
        rows: list[tuple[str, str | Text]] = [
            ("pool", f"{pod.pool} (tenant {tenant})"),
            ("phase", pod.phase),
            *waiting_row(pod),
            ("age", self._age(pod, snapshot.ts)),
            ("ready", "yes" if pod.ready else "no"),
            ("task", pod.task or "none in flight"),
        ]
        self.query_one("#pod", Static).update(fields("Status", rows))
        for events in self.query(ClusterEvents):
            events.at(snapshot.ts)

    def _age(self, pod: Pod, now: float) -> str:
        started = f"(started {clock(pod.started_at)} UTC)"
        if self.gone_at is None:
            return f"{age(now - pod.started_at)} {started}"
        # A pod gone does not grow older: its age stops where it was last seen.
        seen = self.seen_at if self.seen_at is not None else self.gone_at
        return f"{age(seen - pod.started_at)} when last seen {started}"
