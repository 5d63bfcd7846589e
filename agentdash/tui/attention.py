"""What needs an operator now, in one place: the header's count and the Attention screen.

`Attention.look` reads a snapshot, the overrides in force and the event log, and flags:

- no controller leads (nothing scales);
- the whole fleet paused, or in dry-run (nothing scales either);
- a pool starved by a shared ceiling, or stale, for LASTING_S or more;
- a pool whose oldest task has waited past its tier's target_wait_seconds;
- a budget that runs out within RUNS_OUT_S at its current burn rate;
- an override (pin or pause) with no end, set LONG_AGO_S or more ago;
- an operator action taken here and not yet written for the other processes (NATS away) for
  UNWRITTEN_S or more: the leader does not act on it yet, and it is lost if this stops first.

It also lists every override in force: what, who set it, when, and when it ends. Who and when
come from the override itself where it keeps them (a pool's pause), else from the newest
operator action in the log that set it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controller.core.events import ActionEvent, Event
from controller.core.model import Overrides
from controller.core.wording import plural
from controller.runtime.snapshot import FleetSnapshot

LASTING_S = 120.0
"""A pool starved or stale this long is not a blip."""
RUNS_OUT_S = 3600.0
LONG_AGO_S = 4 * 3600.0
"""An override with no end, this old, may have been forgotten."""
UNWRITTEN_S = 5.0
"""An action written within this is not flagged: NATS answers within milliseconds, and a
write that meets NATS away is tried again (controller.coordination.override_writes)."""
ALARM, WARNING = "alarm", "warning"
MARK = {ALARM: "✖", WARNING: "⚠"}
"""Each severity's sign, so that the two read apart without color (NO_COLOR=1, where red and
yellow are both grey)."""


@dataclass(frozen=True, slots=True)
class Flag:
    severity: str
    """ALARM (nothing scales, or a pool cannot be served) or WARNING."""
    what: str
    target: str
    detail: str


@dataclass(frozen=True, slots=True)
class InForce:
    """An operator's override in force."""

    kind: str
    """pin, pause pool, pause tenant, pause all (the controller), dry-run."""
    target: str
    what: str
    by: str | None
    since: float | None
    until: float | None


class Attention:
    """Remembers since when each pool has been starved or stale (a snapshot says only now)."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[str, float]] = {}

    def look(
        self,
        snapshot: FleetSnapshot,
        overrides: Overrides,
        log: Sequence[Event],
        unwritten: Sequence[ActionEvent] = (),
    ) -> tuple[list[Flag], list[InForce]]:
        now = snapshot.ts
        flags = [*_fleet(snapshot, overrides), *self._pools(snapshot, now), *_budgets(snapshot)]
        for action in unwritten:
            if now - action.ts >= UNWRITTEN_S:
                what = f"{action.action} {action.target}, {_ago(now - action.ts)}"
                detail = f"{what}: not yet written to NATS, so no other process has it"
                flags.append(Flag(WARNING, "not shared", action.target, detail))
        in_force = overrides_in_force(overrides, log)
        for item in in_force:
            if item.until is None and item.since is not None and now - item.since >= LONG_AGO_S:
                detail = f"{item.what}, set {_ago(now - item.since)} by {item.by or 'unknown'}"
                flags.append(Flag(WARNING, f"old {item.kind}", item.target, detail + ", no end"))
        return flags, in_force

    def _pools(self, snapshot: FleetSnapshot, now: float) -> Iterable[Flag]:
        for row in snapshot.pools:
            if row.over_target and row.oldest_wait_s is not None:
                detail = (
                    f"its oldest task has waited {row.oldest_wait_s:.0f} s, past its tier's "
                    f"{row.target_wait_s:g} s target"
                )
                yield Flag(WARNING, "waiting", row.name, detail)
            kind = row.state.split(" ")[0]
            if kind not in ("starved", "stale"):
                self._since.pop(row.name, None)
                continue
            was = self._since.get(row.name)
            if was is None or was[0] != kind:
                self._since[row.name] = was = (kind, now)
            if now - was[1] >= LASTING_S:
                detail = f"for {_ago(now - was[1]).removesuffix(' ago')}: {row.state_detail}"
                yield Flag(ALARM, kind, row.name, detail)


def _fleet(snapshot: FleetSnapshot, overrides: Overrides) -> Iterable[Flag]:
    if snapshot.leaderless:
        yield Flag(ALARM, "no leader", "controller", "no controller leads: nothing scales")
    if overrides.paused:
        yield Flag(ALARM, "paused", "controller", "the whole fleet is paused: nothing scales")
    if overrides.dry_run:
        yield Flag(ALARM, "dry-run", "controller", "dry-run: decisions are logged, never made")


def _budgets(snapshot: FleetSnapshot) -> Iterable[Flag]:
    for tenant in snapshot.tenants:
        spent = f"{tenant.tokens_today:,} of {tenant.budget:,} tokens"
        if tenant.budget is not None and tenant.tokens_today >= tenant.budget:
            if not tenant.paused:  # not "runs out in 0 s": its pools cannot grow now
                held = "its pools held at 0" if tenant.hard_cap else "its pools at their floor"
                yield Flag(ALARM, "budget", tenant.name, f"spent ({spent}): {held}")
            continue
        if tenant.held and not tenant.paused:  # nothing in flight burns: no "runs out in 0 s"
            yield Flag(
                WARNING, "budget", tenant.name, f"its pools held at 0 by its budget ({spent})"
            )
            continue
        left = tenant.runs_out_in()
        if left is not None and left < RUNS_OUT_S and not tenant.paused:
            yield Flag(
                WARNING,
                "budget",
                tenant.name,
                f"runs out in {_ago(left).removesuffix(' ago')} at its burn rate ({spent})",
            )


def overrides_in_force(overrides: Overrides, log: Sequence[Event]) -> list[InForce]:
    """Every override in force, with who set it and when, where known."""
    setter = _setters(log)
    found: list[InForce] = []
    for pool, pin in sorted(overrides.pins.items()):
        by, at = setter.get(("pin", pool), (None, None))
        what = plural(pin.replicas, "replica")
        found.append(InForce("pin", pool, what, pin.by or by, pin.at or at, pin.until))
    for pool, pause in sorted(overrides.paused_pools.items()):
        what = "hold" if pause.replicas is None else f"at {pause.replicas}"
        by, at = setter.get(("pause pool", pool), (None, None))
        found.append(InForce("pause pool", pool, what, pause.by or by, pause.at or at, pause.until))
    for tenant in sorted(overrides.paused_tenants):
        by, at = setter.get(("pause tenant", tenant), (None, None))
        found.append(InForce("pause tenant", tenant, "to 0", by, at, None))
    for kind, action, on in (
        ("pause all", "pause controller", overrides.paused),
        ("dry-run", "dry-run on", overrides.dry_run),
    ):
        if on:
            by, at = setter.get((action, "controller"), (None, None))
            found.append(InForce(kind, "controller", "every pool", by, at, None))
    return found


_UNDONE_BY = {
    "unpin": "pin",
    "pin expired": "pin",
    "pin dropped": "pin",
    "pause tenant dropped": "pause tenant",
    "pause dropped": "pause pool",
    "resume pool": "pause pool",
    "pause expired": "pause pool",
    "resume tenant": "pause tenant",
    "resume controller": "pause controller",
    "dry-run off": "dry-run on",
}
"""The action each one undoes: an override set again after it was undone was set by whoever
set it again, not by whoever set it first (a `nats kv put` says no name)."""
FOREIGN_WRITE = "foreign write"
"""controller.coordination.audit_trail.FOREIGN: a whole document written by someone unknown."""


def _setters(log: Sequence[Event]) -> dict[tuple[str, str], tuple[str | None, float]]:
    """(action, target) -> (who, when) of the action that set what is in force, where the
    log says: not one undone since, nor one a foreign write may have replaced."""
    found: dict[tuple[str, str], tuple[str | None, float]] = {}
    for event in log:
        if not isinstance(event, ActionEvent):
            continue
        if event.action == FOREIGN_WRITE:
            found.clear()
        elif event.action in _UNDONE_BY:
            found.pop((_UNDONE_BY[event.action], event.target), None)
        else:
            found[(event.action, event.target)] = (event.who, event.ts)
    return found


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"
