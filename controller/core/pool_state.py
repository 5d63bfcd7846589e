"""What a pool's STATE says on the dashboard: a short label and one sentence saying why.

Read from the pool's last decision (the rule that bound last, controller.core.policy and
controller.core.allocation name it) and the operators' overrides. Pure: `now` is an argument.

The label fits 14 cells and its first word is its kind: idle, steady, scaling up, scaling
down, starved, capped, held, paused, pinned, stale, budget, dry-run, left alone, unknown
("held 42s", "pinned 4m"). `starved` is a shared ceiling's doing, `capped` the pool's own
max_replicas.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from controller.core.budget import EXHAUSTED, WARNING
from controller.core.budget_uncounted import UNCOUNTED
from controller.core.budget_unpriced import UNPRICED_SAID
from controller.core.config import TenantConfig
from controller.core.held_claims import CONTROLLER_PAUSED, NOT_SCALED, POOL_PAUSED, left_alone
from controller.core.model import Overrides, PoolObservation, Reason, ScaleDecision, utc
from controller.core.wording import plural

CEILINGS = frozenset({"cluster max_pods", "tenant max_pods", "provider rpm"})
"""Rules of controller.core.allocation: a shared ceiling gave the pool less than it asked."""
TIME_RULES = frozenset({"stabilization", "rate limit", "cooldown"})
_CHANGE = re.compile(r"(\d+) -> (\d+)$")
LEFT_ALONE = "left alone"


class PoolState(NamedTuple):
    """What STATE shows for one pool."""

    label: str
    """At most 14 cells, its first word its kind: `held 42s`, `scaling up`."""
    sentence: str
    """Why, in one sentence."""


def state_of(
    obs: PoolObservation | None,
    decision: ScaleDecision | None,
    overrides: Overrides,
    now: float,
    *,
    dry_run: bool = False,
) -> PoolState:
    """What STATE shows for one pool."""
    if decision is None:
        return PoolState("unknown", "no decision yet: the controller has not seen this pool")
    if obs is None or not decision.observed:
        # Its replicas are read, but another autoscaler scales it (or its scale is refused).
        said = next((r for r in decision.reasons if r.rule == NOT_SCALED), None)
        if said is not None:
            return PoolState(LEFT_ALONE, said.detail)
        return PoolState("unknown", f"unknown: {decision.main_reason.detail}")
    stopped = _stopped(obs, decision, overrides, now, dry_run=dry_run)
    return stopped if stopped is not None else _moving(obs, decision, overrides, now)


def _stopped(
    obs: PoolObservation,
    decision: ScaleDecision,
    overrides: Overrides,
    now: float,
    *,
    dry_run: bool,
) -> PoolState | None:
    """Where something other than the pool's demand has the word: a pause, stale data, a
    dry run, a budget (None: none has)."""
    reason = decision.main_reason
    rule = reason.rule
    current, desired = obs.replicas, decision.desired
    pause = overrides.paused_pools.get(decision.pool)
    if pause is not None and pause.active(now):  # the operator's word, stale data or not
        left = f" ({_spoken(pause.until - now)} left)" if pause.until is not None else ""
        label = "paused" + (f" {_short(pause.until - now)}" if pause.until is not None else "")
        return PoolState(label, f"pool {_first(decision, POOL_PAUSED).detail}{left}")
    if obs.stale is not None or rule == "fallback":
        said = next((r for r in decision.reasons if r.rule in ("stale", "fallback")), None)
        if said is None and obs.stale is not None:
            # a decision made on fresh data (a follower's, the leader's last one heard):
            # its main reason is not why this reading is stale
            return PoolState("stale", f"stale: {obs.stale}")
        return PoolState("stale", f"stale: {(said or reason).detail}")
    if overrides.paused or rule == CONTROLLER_PAUSED:
        said = _first(decision, CONTROLLER_PAUSED)
        return PoolState(
            "paused",
            f"controller {said.detail}" if said.rule == CONTROLLER_PAUSED else _CONTROLLER,
        )
    if rule == "paused":
        return PoolState("paused", reason.detail)
    if dry_run and decision.changes:
        label = f"dry-run {current}→{desired}"
        return PoolState(label, f"dry-run: would scale {current} -> {desired} ({_told(reason)})")
    if rule == WARNING and reason.detail.startswith(UNPRICED_SAID):  # not over: unpriced
        return PoolState("pricing", reason.detail)
    if rule in (EXHAUSTED, WARNING, UNCOUNTED):
        return PoolState("budget", reason.detail)
    return None


def _moving(
    obs: PoolObservation, decision: ScaleDecision, overrides: Overrides, now: float
) -> PoolState:
    """What the demand makes of the pool, within the ceilings, the time rules and a pin."""
    reason = decision.main_reason
    rule = reason.rule
    current, desired = obs.replicas, decision.desired
    wants = decision.recommendation
    if starved(decision):
        return PoolState(
            "starved", f"starved: {reason.detail} (wants {wants}, gets {desired}, lag {obs.lag})"
        )
    if rule in TIME_RULES and desired == current and wants != current:
        return _held(decision, now)
    pin = overrides.pins.get(decision.pool)
    if rule == "pin" and pin is not None and pin.active(now):
        if pin.until is None:
            return PoolState("pinned", f"{reason.detail}, until unpinned")
        span = pin.until - now
        return PoolState(f"pinned {_short(span)}", f"{reason.detail} ({_spoken(span)} left)")
    detail = _told(reason)
    if pin is not None and pin.active(now) and pin.until is not None:
        detail += f"; pinned at {pin.replicas} for {_spoken(pin.until - now)} more"
    capped = _first(decision, "max_replicas")
    if capped.rule == "max_replicas" and desired == current:
        return _capped(obs, capped)
    if desired > current:
        return PoolState("scaling up", f"scaling up {current} -> {desired}: {detail}")
    if desired < current:
        return PoolState("scaling down", f"scaling down {current} -> {desired}: {detail}")
    if current == 0:
        return PoolState("idle", f"idle at 0 replicas: {detail}")
    return PoolState("steady", f"steady at {plural(current, 'replica')}: {detail}")


def _capped(obs: PoolObservation, capped: Reason) -> PoolState:
    """A pool held at its own max_replicas, with what it wants and what waits."""
    change = _change(capped)
    if change is None:
        return PoolState("capped", f"capped: {capped.detail}")
    wanted, limit = change
    return PoolState(
        "capped",
        f"capped at its max_replicas {limit}: wants {wanted}, lag {obs.lag} waits on "
        f"{plural(obs.replicas, 'replica')}",
    )


def starved(decision: ScaleDecision) -> bool:
    """A shared ceiling gave the pool fewer replicas than it asks for."""
    return decision.main_reason.rule in CEILINGS and decision.desired < decision.recommendation


def what_next(decision: ScaleDecision | None, overrides: Overrides, now: float) -> str:
    """What the pool does next by time alone, if anything: when the pause, the pin or the
    rule of time that holds it ends, and the replicas it goes to then, as things stand now
    (its demand may move first). "" where nothing ends by itself."""
    if decision is None or not decision.observed or overrides.paused:
        return ""
    if left_alone(decision):  # nothing agentdash does ends: not its pool
        return ""
    pause = overrides.paused_pools.get(decision.pool)
    if pause is not None and pause.active(now):
        if pause.until is None:
            return "paused until an operator resumes it"
        return f"pause ends {_at(pause.until, now)} -> its queue scales it again"
    main = decision.main_reason
    pin = overrides.pins.get(decision.pool)
    if main.rule == "pin" and pin is not None and pin.active(now) and pin.until is not None:
        change = _change(main)
        back = "" if change is None else f" -> back to {change[0]}"
        return f"pin ends {_at(pin.until, now)}{back}"
    held = decision.desired == decision.current != decision.recommendation
    if held and main.rule in TIME_RULES and math.isfinite(decision.until):
        # A rise then still meets the shared ceilings (cluster, tenant, provider), which may
        # give it less; a fall they never bound.
        rise = decision.recommendation > decision.current
        to = f"up to {decision.recommendation}" if rise else str(decision.recommendation)
        return f"{main.rule} ends {_at(decision.until, now)} -> {to}"
    return ""


def budget_next(
    tenant: TenantConfig, runs_out_in: float | None, replicas: int, now: float, floor: int = 0
) -> str:
    """When the tenant's budget runs out at its burn rate, if before it starts over, and
    what the pool does then: to 0 under a hard cap, else to its `floor` (min_replicas, a
    pin: controller.core.budget's soft cap). "" where it does not run out today, or the pool
    has nothing to lose."""
    if runs_out_in is None or runs_out_in <= 0 or replicas <= (0 if tenant.hard_cap else floor):
        return ""
    when = now + runs_out_in
    if when >= tenant.clock.day(now).end:
        return ""
    then = "-> 0" if tenant.hard_cap else f"-> {floor} (its floor)"
    return f"budget runs out {_at(when, now)} at its burn rate {then}"


def _change(reason: Reason) -> tuple[int, int] | None:
    """The "A -> B" a floor's or a limit's reason ends with. A following dashboard has the
    leader's reasons as text only (the wire carries no numbers apart), so it reads them
    there; None where the text does not end so."""
    if len(reason.args) >= 2:
        return int(str(reason.args[-2])), int(str(reason.args[-1]))
    found = _CHANGE.search(reason.detail)
    return None if found is None else (int(found[1]), int(found[2]))


def _at(when: float, now: float) -> str:
    return f"{utc(when, now)} (in {_spoken(when - now)})"


def _held(decision: ScaleDecision, now: float) -> PoolState:
    """A time rule keeps the pool where it is, away from its recommendation."""
    reason = decision.main_reason
    way = "up" if decision.recommendation > decision.current else "down"
    what = {
        "stabilization": f"the scale-{way} stabilization window",
        "rate limit": f"the scale-{way} rate policy",
        "cooldown": "the cooldown before zero",
    }[reason.rule]
    left = decision.until - now
    more = f" for {_spoken(left)} more" if math.isfinite(left) and left > 0 else ""
    label = f"held {_short(left)}" if more else "held"
    numbers = f"recommendation {decision.recommendation}, replicas {decision.current}"
    return PoolState(label, f"held by {what}{more} ({numbers}): {reason.detail}")


def _first(decision: ScaleDecision, rule: str) -> Reason:
    """The decision's first reason by `rule`, or its main one."""
    for reason in decision.reasons:
        if reason.rule == rule:
            return reason
    return decision.main_reason


def _told(reason: Reason) -> str:
    """`rule: detail`, unless the detail starts by naming the rule already."""
    detail = reason.detail
    return detail if detail.startswith(reason.rule.split()[0]) else f"{reason.rule}: {detail}"


_CONTROLLER = "controller paused by an operator: replicas are left where they are"


def _short(seconds: float) -> str:
    """A time left in at most four cells: 42s, 12m, 3h, 2d."""
    seconds = max(0.0, seconds)
    if seconds < 100:
        return f"{math.ceil(seconds)}s"
    if seconds < 100 * 60:
        return f"{math.ceil(seconds / 60)}m"
    if seconds < 48 * 3600:
        return f"{math.ceil(seconds / 3600)}h"
    return f"{math.ceil(seconds / 86400)}d"


def _spoken(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 100:
        return f"{math.ceil(seconds)} s"
    if seconds < 100 * 60:
        return f"{math.ceil(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
