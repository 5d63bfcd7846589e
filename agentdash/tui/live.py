"""What every screen of the dashboard shares: the live screen the app refreshes, the header
(what the controller does and who leads it), and how a state, a reason, an event or a wait
reads on screen. None of it reads a source or sleeps."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from weakref import WeakKeyDictionary

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual.binding import Binding, BindingsMap
from textual.screen import Screen
from textual.widgets import Static

from agentdash.tui.attention import ALARM, MARK, WARNING, Flag
from agentdash.tui.render import (
    Wait,
    clock,
    tokens,
)
from agentdash.tui.table import Row
from agentdash.tui.wrapping import KeptText
from controller.core.events import ActionEvent, Event, HealthEvent, ScaleEvent
from controller.core.printable import printable
from controller.runtime.health import TASKS
from controller.runtime.snapshot import FleetSnapshot, PoolRow

STATE_STYLE = {
    "scaling up": "green",
    "scaling down": "yellow",
    "scaling": "green",
    "starved": "red bold",
    "capped": "yellow bold",
    "stale": "red bold",
    "budget": "red",
    "pricing": "cyan",
    "held": "cyan",
    "paused": "medium_purple1",
    "pinned": "dodger_blue1",
    "dry-run": "italic yellow",
    "unknown": "dim",
    "left alone": "dim",
    "idle": "dim",
    "no leader": "dim",
}
"""By a PoolRow.state's kind: its first word ("held 42s" is held), or its first two."""


def state_style(state: str) -> str:
    kind = state.split(" ", 2)
    return STATE_STYLE.get(" ".join(kind[:2]), "") or STATE_STYLE.get(kind[0], "")


def hide_operator_keys(bindings: BindingsMap) -> None:
    """--read-only: operator keys leave the footer but stay bound, so that a press can say
    why nothing happens."""
    keys = bindings.key_to_bindings
    for key, found in keys.items():
        keys[key] = [replace(b, show=False) if "operator(" in b.action else b for b in found]


class LiveScreen(Screen[None]):
    """A screen that shows the fleet; the app calls `show` about twice a second."""

    # First in every footer, so that at 80 columns they are never the ones cut off.
    BINDINGS = [Binding("question_mark", "app.help", "Help"), Binding("q", "app.quit", "Quit")]
    selected_pool: str | None = None

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        if getattr(self.app, "read_only", False):
            hide_operator_keys(self._bindings)

    def on_mount(self) -> None:
        # Filled before its first frame from the snapshot the app already has: a detail
        # opened between two refreshes would otherwise be drawn empty until the next one.
        snapshot = getattr(self.app, "last_snapshot", None)
        if snapshot is not None:
            self.show(snapshot, self.app.log_events)  # type: ignore[attr-defined]

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        raise NotImplementedError


_SHOWN: WeakKeyDictionary[Static, object] = WeakKeyDictionary()


def update(widget: Static, content: RenderableType, key: object = None) -> None:
    """Show `content` on `widget`, unless it shows it already (the same `key`, where given:
    an event in full is a Group, which does not compare): an update lays the screen out
    again, and twice a second on a fleet where nothing moved that was most of the CPU an idle
    dashboard spent."""
    said = content if key is None else key
    if widget in _SHOWN and _SHOWN[widget] == said:
        return
    _SHOWN[widget] = said
    widget.update(content)


NO_LEADER_STYLE = "bold white on red"
SILENT_STYLE = "black on yellow"


def control_text(snapshot: FleetSnapshot) -> tuple[str, str]:
    """What the controller does and who leads it, and the style: paused or dry-run before
    the leader's name, so that 80 columns cut the name, not the state; no leader is an
    alarm."""
    mode = snapshot.state
    if snapshot.leaderless:
        said = "NO LEADER: nothing scales" + ("" if mode == "running" else f", {mode}")
        return said, NO_LEADER_STYLE
    if snapshot.leader is not None:
        following = f"following {printable(snapshot.leader)}"  # as the lease names it
        said = following if mode == "running" else f"{mode}, {following}"
        if snapshot.leader_silent_s is not None:  # dead, maybe: its lease has not run out
            return f"{said}, silent {snapshot.leader_silent_s:.0f} s", SILENT_STYLE
        return said, "reverse"
    return mode, "green" if mode == "running" else "reverse"


def header_text(
    snapshot: FleetSnapshot,
    read_only: bool,
    flags: Sequence[Flag] = (),
    width: int | None = None,
) -> Text:
    """The Fleet header; in `width` cells, "tokens today" is "tokens" if that makes it fit (at 80
    columns, a controller paused in dry-run says both). If it still does not, a stale source
    is named without its reason (the pane under the table says it) and the clock without
    "UTC": cut at the edge, the reason read as words of its own and the clock was gone."""
    text = _header(snapshot, read_only, flags, "tokens today")
    if width is None or text.cell_len <= width:
        return text
    text = _header(snapshot, read_only, flags, "tokens")
    if text.cell_len <= width or not snapshot.problems:
        return text
    return _header(snapshot, read_only, flags, "tokens", terse=True)


def _header(
    snapshot: FleetSnapshot,
    read_only: bool,
    flags: Sequence[Flag],
    tokens_label: str,
    terse: bool = False,
) -> Text:
    text = Text()
    text.append("agentdash ", style="bold")
    if flags:
        severity = ALARM if any(flag.severity == ALARM for flag in flags) else WARNING
        text.append(
            f" {MARK[severity]} {len(flags)} (!) ",
            style="bold white on red" if severity == ALARM else "black on yellow",
        )
    used, cap = snapshot.pods_used, snapshot.cluster_cap
    text.append(f" pods {used}/{cap} ", style="red" if used >= cap else "")
    text.append(f" {tokens_label} {tokens(snapshot.tokens_today)} ")
    said, style = control_text(snapshot)
    text.append(f" {said}{', read-only' if read_only else ''} ", style=style)
    for source, problem in snapshot.problems.items():
        why = "" if terse else f": {problem}"
        # Tasks refused are not stale data: the pools read idle, truly, as none is stored.
        said = "REFUSED" if source == TASKS else "STALE"
        text.append(printable(f" {source} {said}{why} "), style="red bold")
    text.append(f" {clock(snapshot.ts)}{'' if terse else ' UTC'}", style="dim")
    return text


def reason_text(rule: str, detail: str) -> str:
    """`rule: detail`, unless the detail already starts by naming the rule; printable, as a
    follower reads its reasons from NATS."""
    return printable(detail if detail.startswith(rule.split()[0]) else f"{rule}: {detail}")


def event_row(event: Event, index: int) -> Row:
    """An event's cells, each printable: a follower reads the events from NATS."""
    return f"e{index:07d}", tuple(printable(cell) for cell in _event_cells(event))


def _event_cells(event: Event) -> tuple[str, str, str, str, str]:
    if isinstance(event, ScaleEvent):
        why = event.reasons[-1] if event.reasons else None
        change = f"{event.old} → {event.new}" + (" (would)" if event.dry_run else "")
        detail = reason_text(why.rule, why.detail) if why else ""
        return clock(event.ts), event.kind, event.pool, change, detail
    if isinstance(event, HealthEvent):
        state = "recovered" if event.ok else "stale"
        detail = "" if event.detail == state else event.detail  # not "recovered recovered"
        return clock(event.ts), "health", event.source, state, detail
    if isinstance(event, ActionEvent):
        return (
            clock(event.ts),
            "action",
            event.target,
            event.action,
            f"by {event.who}" + (f": {event.detail}" if event.detail else ""),
        )
    return clock(0), "?", "", "", ""


def event_at(log: Sequence[Event], key: str) -> Event | None:
    """The event behind a row that `event_row` keyed (its index in the log it was given)."""
    index = int(key.removeprefix("e"))
    return log[index] if 0 <= index < len(log) else None


def event_text(event: Event) -> RenderableType:
    """An event in full, every reason on a line of its own, indented as it wraps: the detail
    panes' text."""
    _, (when, kind, target, change, detail) = event_row(event, 0)
    text = Text.assemble((f"{when} {kind} ", "dim"), (target, "bold"), f" {change}")
    if isinstance(event, ScaleEvent):
        reasons = [KeptText(reason_text(r.rule, r.detail)) for r in event.reasons]
        return Group(text, *(Padding(reason, (0, 0, 0, 2)) for reason in reasons))
    if detail:
        text.append(f": {detail}")
    return text


def event_pool(event: Event, pools: Collection[str]) -> str | None:
    """The pool an event is about, if it is about one (a pin is; a tenant's pause is not)."""
    if isinstance(event, ScaleEvent):
        return event.pool
    if isinstance(event, ActionEvent) and event.target in pools:
        return event.target
    return None


def state_detail(pool: PoolRow) -> str:
    """Why the pool is in its state, in a sentence; before the snapshot says so itself
    (`PoolRow.state_detail`), the last decision's main reason."""
    detail = str(getattr(pool, "state_detail", ""))
    if detail:
        return printable(detail)
    if pool.decision is None:
        return "no decision yet"
    main = pool.decision.main_reason
    return reason_text(main.rule, main.detail)


def pool_wait(pool: PoolRow) -> Wait:
    """How long the pool's oldest task has waited for a worker, against its tier's target."""
    return Wait(pool.oldest_wait_s, pool.target_wait_s, pool.waits_unknown)


def tenant_wait(pools: Sequence[PoolRow]) -> Wait:
    """The longest any of a tenant's pools' oldest tasks has waited (they share its tier)."""
    known = [p.oldest_wait_s for p in pools if p.oldest_wait_s is not None]
    target = pools[0].target_wait_s if pools else None
    unknown = any(p.waits_unknown for p in pools)
    return Wait(max(known) if known else None, target, unknown)
