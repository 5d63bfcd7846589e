"""Step 6 of the policy, with history only: the rules of time on a pool's own recommendation.

The learned keep-alive (controller.core.keepalive) or, where a pool configures them, the
cooldown and the HPA v2 stabilization windows; then the tolerance and the Pods/Percent rate
policies with selectPolicy. They act before the shared ceilings, so the ceilings stay hard;
what they alone keep yields to real demand under a short ceiling (controller.core.allocation).
"""

from __future__ import annotations

import math
from typing import Final

from controller.core.behavior import ScalingRule
from controller.core.config import PoolConfig
from controller.core.history import SETTLE_S, PoolHistory
from controller.core.keepalive import Hold, KeepAlive
from controller.core.keepalive_words import keep_reason, prewarm_reason, release_reason
from controller.core.model import Reason, Utc
from controller.core.record import Record


class Timed(Record):
    """The replicas the rules of time give, and until when they give the same by
    themselves."""

    FIELDS = ("replicas", "until")
    __slots__ = FIELDS

    replicas: int
    until: float

    def __init__(self, *, replicas: int, until: float) -> None:
        self.replicas = replicas
        self.until = until


def time_rules(
    pool: PoolConfig,
    past: PoolHistory,
    current: int,
    target: int,
    now: float,
    reasons: list[Reason],
    busy: int = 0,
    top: int = 0,
    in_flight: bool = False,
) -> Timed:
    """Cooldown, stabilization and rate policies on the pool's own recommendation; and until
    when they give the same by themselves: when the cooldown ends, or an entry that bound
    leaves its window. (One that did not bind cannot start to as entries leave: a window's
    lowest only rises, its highest only falls, a rate limit's room only grows.) `top`: where
    a learned pool's scale-down lands (controller.core.demand.noise_top); `in_flight`: its
    demand is the tasks in flight's alone (controller.core.demand.Footprint)."""
    keep = None
    if pool.learns_keep_alive:  # a pool new to the history knows no level yet
        keep = past.keep if past.keep is not None else KeepAlive.for_pool(pool)
    until = math.inf
    if keep is not None:
        kept = _kept_alive(keep, current, target, busy, now, reasons)
        target, until = kept.replicas, kept.until
    if target == current:
        # No rule below applies: nothing to cool, hold or limit.
        return Timed(replicas=target, until=until)
    if keep is None and target == 0 and current > 0:
        cooled = _cooldown(pool, past, now, reasons)
        if cooled is not None:
            target, until = cooled.replicas, cooled.until
    land_on = None if keep is None else top
    windowed = _windows(pool, past, current, target, now, until, land_on, reasons, in_flight)
    return _rate_limited(pool, past, current, windowed.replicas, now, windowed.until, reasons)


def _kept_alive(
    keep: KeepAlive, current: int, target: int, busy: int, now: float, reasons: list[Reason]
) -> Timed:
    """What the learned keep-alive holds or pre-warms over the target, never giving up a pod
    at work; until a level's release or pre-warm changes the answer by itself."""
    hold = keep.hold(now, current, target)
    wanted = target
    target = _held(hold, current, target, now, reasons)
    if target < busy and target < current:
        # A pod at work is never given up to save idle time: its task would start over.
        at_work = busy if busy < current else current
        args = (at_work, target, at_work)
        reasons.append(Reason(rule="at work", template=_AT_WORK, args=args))
        target = at_work
    if target == wanted < current:
        # Nothing held: say which level's hold ended, or the release reads as the demand's
        # alone ("lag 0 -> 0"), which does not say why the pods went now and not earlier.
        gone = keep.released(current, target)
        if gone is not None and gone.plan is not None:
            reasons.append(release_reason(gone.plan, gone.since, current, target))
    return Timed(replicas=target, until=hold.until)


def _cooldown(
    pool: PoolConfig, past: PoolHistory, now: float, reasons: list[Reason]
) -> Timed | None:
    """A pool going to zero keeps one replica until cooldown_seconds after it was last busy
    (None: the cooldown is over)."""
    busy_at = past.busy_at if past.busy_at is not None else now  # recorded from now on
    if now - busy_at >= pool.cooldown_seconds:
        return None
    until = busy_at + pool.cooldown_seconds
    # Times of day, not "idle N s": the reason stays true while nothing else moves (the
    # engine claims the pool again only at `until`).
    args = (Utc(busy_at), pool.cooldown_seconds, Utc(until))
    reasons.append(Reason(rule="cooldown", template=_COOLDOWN, args=args))
    return Timed(replicas=1, until=until)


def _windows(
    pool: PoolConfig,
    past: PoolHistory,
    current: int,
    target: int,
    now: float,
    until: float,
    land_on: int | None,
    reasons: list[Reason],
    in_flight: bool = False,
) -> Timed:
    """The tolerance, then the stabilization window, of the direction the target moves in
    (scaling up a learned pool whose demand is its tasks in flight alone, at least its cold
    start: `in_flight`); scaling down, a pool on the learned keep-alive (`land_on` not None)
    lands on the noise above its need where that is above the target (`_landing`), instead
    of keeping a window."""
    args: tuple[object, ...]
    desired = target
    if target > current > 0:
        up = pool.behavior.scale_up
        if target <= current * (1 + up.tolerance):
            reasons.append(
                Reason(rule="tolerance", template=_TOLERANCE, args=(target, up.tolerance, current))
            )
            return Timed(replicas=current, until=until)
        window, template = up.stabilization_seconds, _LOWEST
        if land_on is not None and in_flight and window < pool.cold_start_seconds:
            # Nothing waits: a pod asked for now is ready a cold start later, and a rise of
            # the tasks in flight that does not last that long is over by then.
            window, template = pool.cold_start_seconds, _IN_FLIGHT
        lowest = past.lowest_since(now - window) if window else None
        if lowest is not None and lowest[1] < target:
            desired = lowest[1] if lowest[1] > current else current
            leaves = lowest[0] + window
            until = leaves if leaves < until else until
            args = (window, lowest[1], target, desired)
            reasons.append(Reason(rule="stabilization", template=template, args=args))
    elif target < current:
        down = pool.behavior.scale_down
        if target >= current * (1 - down.tolerance) and target > 0:
            if land_on is not None:
                settled = _settled(past, current, target, land_on, now, reasons)
                if settled.replicas < current:
                    return settled
                until = settled.until if settled.until < until else until
            reasons.append(
                Reason(
                    rule="tolerance", template=_TOLERANCE, args=(target, down.tolerance, current)
                )
            )
            return Timed(replicas=current, until=until)
        if land_on is not None:  # no window: the keep-alive held what its levels are worth
            return Timed(replicas=_landing(current, target, land_on, reasons), until=until)
        window = down.stabilization_seconds
        highest = past.highest_since(now - window) if window else None
        if highest is not None and highest[1] > target:
            desired = highest[1] if highest[1] < current else current
            leaves = highest[0] + window
            until = leaves if leaves < until else until
            args = (window, highest[1], target, desired)
            reasons.append(Reason(rule="stabilization", template=_HIGHEST, args=args))
    return Timed(replicas=desired, until=until)


def _settled(
    past: PoolHistory, current: int, target: int, top: int, now: float, reasons: list[Reason]
) -> Timed:
    """A learned pool whose recommendation has stayed below its replicas, within the
    tolerance, for SETTLE_S settles to the highest recommendation of that span (not below
    its landing, `top`). Else it keeps `current`, until when the last recommendation at or
    above it leaves the span. A slow decline (a diurnal evening) otherwise keeps up to the
    tolerance's 25% more pods than it needs for hours. Not before the pool has been watched
    for SETTLE_S: a recommendation not seen is not known to be low."""
    edge = now - SETTLE_S
    began = past.keep.started if past.keep is not None else None
    if began is None or began > edge:
        return Timed(replicas=current, until=math.inf if began is None else began + SETTLE_S)
    above = -math.inf  # when the recommendation was last at or above `current`
    highest = target
    for at, value in past.highs:  # values falling as times rise: the first is the highest
        if at <= edge:
            continue
        if value >= current:
            above = at
            continue
        highest = value if value > target else target
        break
    if above > -math.inf:
        return Timed(replicas=current, until=above + SETTLE_S)
    floor = top if top < current else current
    settled = highest if highest > floor else floor
    if settled < current:
        reasons.append(
            Reason(
                rule="stabilization", template=_SETTLED, args=(SETTLE_S, settled, current, settled)
            )
        )
    return Timed(replicas=settled, until=math.inf)


def _landing(current: int, target: int, top: int, reasons: list[Reason]) -> int:
    """Where a pool on the learned keep-alive lands when it scales down: on `top` (the need
    and half a standard deviation of the arrivals' noise above it) where that is above the
    target, at most `current`. Zero stays zero: going idle is the first level's to decide."""
    if target <= 0 or top <= target:
        return target
    landing = top if top < current else current
    reasons.append(
        Reason(rule="landing", template=_LANDING, args=(target, landing - target, current, landing))
    )
    return landing


def _rate_limited(
    pool: PoolConfig,
    past: PoolHistory,
    current: int,
    desired: int,
    now: float,
    until: float,
    reasons: list[Reason],
) -> Timed:
    """The scale-up and scale-down rate policies.

    From zero there is no "replicas at the start of the period" to take a percent of: a pool
    woken from zero goes straight to its demand, and the policies govern from there."""
    if desired > current > 0:
        up = pool.behavior.scale_up
        limit, leaves = _rate_limit(up, past, current, now, 1)
        # Even when it does not bind, a step leaving its period can tighten the limit (a
        # removal no longer counted lowers the period's start), so the claim holds until then.
        until = leaves if leaves < until else until
        if desired > limit:
            reasons.append(
                Reason(rule="rate limit", template=_RATE_UP, args=(up, limit, desired, limit))
            )
            desired = limit  # (the rule reads as describe() when shown)
    elif desired < current:
        down = pool.behavior.scale_down
        limit, leaves = _rate_limit(down, past, current, now, -1)
        if desired < limit:
            reasons.append(
                Reason(rule="rate limit", template=_RATE_DOWN, args=(down, limit, desired, limit))
            )
            desired = limit
            until = leaves if leaves < until else until
    return Timed(replicas=desired, until=until)


def _held(hold: Hold, current: int, target: int, now: float, reasons: list[Reason]) -> int:
    """What the learned keep-alive makes of the recommendation: an idle level held while its
    gaps say the next burst is worth waiting for (never above the current replicas), or
    pre-warmed ahead of a burst that recurs."""
    plan = hold.plan
    if plan is None or hold.replicas <= target:
        return target
    since = hold.since
    if plan.prewarm_s is not None and since + plan.prewarm_s <= now:
        # Past the release after one cold start: this is the pre-warm, up to the level.
        reasons.append(prewarm_reason(plan, since, target, hold.replicas))
        return hold.replicas
    kept = hold.replicas if hold.replicas < current else current
    if kept <= target:
        return target
    reasons.append(keep_reason(plan, hold.replicas, since, target, kept))
    return kept


def _rate_limit(
    rule: ScalingRule, past: PoolHistory, current: int, now: float, direction: int
) -> tuple[int, float]:
    """The HPA's rate policies: the furthest `direction` (+1 up, -1 down) the replicas may
    go now, and until when that stands by itself (when a counted step leaves its period).

    Each policy counts from the replicas at the start of its period (today's, less the steps
    taken since); `select_policy` Max takes the policy that allows the largest change, Min the
    smallest, Disabled none."""
    select = rule.select_policy
    if select == "Disabled":
        return current, math.inf
    steps = rule.steps
    if not steps:
        return (BIG if direction > 0 else 0), math.inf
    best = 0
    until = math.inf
    sign = direction if select == "Max" else -direction
    period = -1.0
    start, first = current, math.inf
    for k, (seconds, pods, value) in enumerate(steps):
        if seconds != period:  # policies mostly share one period: count it once
            period = seconds
            added, removed, first = past.moved_since(now - period)
            start = current - added + removed
            leaves = first + period
            until = leaves if leaves < until else until
        if pods:
            limit = start + value * direction
        elif direction > 0:  # rounded as the HPA rounds: up when growing, down when shrinking
            limit = math.ceil(start * (1 + value / 100) - 1e-9)
        else:
            limit = math.floor(start * (1 - value / 100) + 1e-9)
        if k == 0 or (limit - best) * sign > 0:
            best = limit
    if direction > 0:
        return (best if best > current else current), until
    return (best if best < current else current), until


BIG: Final = 1 << 30
"""No rate limit: more replicas than anything asks for."""
_TOLERANCE = "{} is within {:.0%} of {}: keep them"
_LANDING = (
    "lands on {} and {} more against the arrivals' noise (half a standard deviation): {} -> {}"
)
_LOWEST = "lowest recommendation in the last {:g} s is {}: {} -> {}"
_IN_FLIGHT = (
    "no task waits, so only tasks in flight that last a cold start ({:g} s) add pods: "
    "lowest recommendation in it {}: {} -> {}"
)
_HIGHEST = "highest recommendation in the last {:g} s is {}: {} -> {}"
_SETTLED = "below its replicas for {:g} s, at most {} (within the tolerance): {} -> {}"
_COOLDOWN = "idle since {} (cooldown {:g} s, to zero at {}): keep 1"
_AT_WORK = "{} replicas at work, none given up mid-task: {} -> {}"
_RATE_UP = "scale-up policy {}: at most {} now, {} -> {}"
_RATE_DOWN = "scale-down policy {}: at least {} now, {} -> {}"
