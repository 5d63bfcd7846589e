"""The scaling policy: observations + config + overrides (+ history) -> decisions with reasons.

Pure: no I/O and no clock; `now` is an argument, so the live loop, the tests and the simulator
run exactly this code. Per pool, in order:

1. lag = pending + ack_pending;
2. demand (0 from zero while lag <= activation_lag), the larger of: the backlog, (lag + the
   net inflow over a cold start, while tasks wait) / target_lag_per_replica; and the steady
   load, arrival rate x task time (Little's law, over what the rate window saw) at the same
   target, or square-root staffing for a tier's target_wait_seconds;
3. floor = max(min_replicas, operator pin); a paused tenant gets 0; a paused pool keeps its
   replicas, or gets the number the operator chose, and no other rule applies to it;
4. token budget (controller.core.budget): exhausted with hard_cap -> 0; spent with a soft
   cap -> the floor; past warn_at, paced only if the tenant's forecast spend until its reset
   (plus its queue) is more than what is left, then to the share of the demand that fits;
5. max_replicas, then the shared ceilings (provider rpm, tenant max_pods, cluster max_pods),
   served by tier priority (controller.core.allocation);
6. with history only: the HPA v2 behavior (tolerance, stabilization windows, Pods/Percent rate
   policies with selectPolicy) and the cooldown before zero. These act on the pool's own
   recommendation, before the shared ceilings, so the ceilings stay hard; what they alone
   keep yields to real demand under a short ceiling.

With the controller paused, every pool holds its replicas, and its reasons say so and what it
would have done.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

from controller.core.accounting import RATE_WINDOW_S
from controller.core.allocation import Claim, allocate
from controller.core.budget import MAX_TASK_SECONDS, WARNING, Pool, budget_rule, budget_step
from controller.core.config import Config, PoolConfig, ScalingRule
from controller.core.history import SUSTAINED_S, History, PoolHistory
from controller.core.keepalive import REGROW_S, Hold, KeepAlive
from controller.core.model import (
    Observations,
    Overrides,
    PoolObservation,
    PoolPause,
    Reason,
    ScaleDecision,
)

NO_OVERRIDES = Overrides()
_NEW_POOL = PoolHistory()
"""History of a pool seen for the first time: nothing recorded, so nothing yet to relax."""


def decide(
    config: Config,
    observations: Observations,
    overrides: Overrides = NO_OVERRIDES,
    history: History | None = None,
    now: float = 0.0,
) -> list[ScaleDecision]:
    """One decision per configured pool, in config order."""
    claims = [
        claim(name, pool, config, observations, overrides, history, now)
        for name, pool in config.pools.items()
    ]
    allocate(config, claims)
    if overrides.paused:
        return [controller_paused(claim.decision()) for claim in claims]
    return [claim.decision() for claim in claims]


def controller_paused(decision: ScaleDecision) -> ScaleDecision:
    """The whole controller paused: the pool stays as it is (the loop calls nothing), and
    its reasons end with the pause and what it would have done otherwise."""
    if not decision.observed:
        return decision
    if decision.held or decision.desired == decision.current:
        told = _reason(CONTROLLER_PAUSED, _CONTROLLER_HOLDS, (decision.current,))
    else:
        args = (decision.current, decision.current, decision.desired)
        told = _reason(CONTROLLER_PAUSED, _CONTROLLER_WOULD, args)
    return decision._replace(
        desired=decision.current, reasons=(*decision.reasons, told), held=True, until=math.inf
    )


def claim(
    name: str,
    pool: PoolConfig,
    config: Config,
    observations: Observations,
    overrides: Overrides,
    history: History | None,
    now: float,
    demand: Demanded | None = None,
) -> Claim:
    """One pool's bid before the shared ceilings (steps 1-4 and 6): what `decide` asks of
    `allocate` for it. Its numbers depend on the pool's observation only through `footprint`,
    on its tenant's usage only through `budget_rule` (and, past warn_at, on its tokens,
    replica-seconds, spend forecast, lag and task time, and `now`: the budget pace), and
    otherwise on `now` only until `Claim.until` (given a history that meanwhile records only
    this recommendation); the reasons quote the exact
    figures. `demand`, if given, is `demanded()` of this very observation: step 2 is not
    worked out again (controller.core.engine keeps it per reading)."""
    obs = observations.pools.get(name)
    if obs is None:
        why = observations.unobserved.get(name)
        reason = _reason("no observation", _NO_DATA_BECAUSE, (why,)) if why else _NO_DATA_REASON
        return Claim.hold(name, pool, 0, False, reason)
    current = obs.replicas
    pause = overrides.paused_pools.get(name)
    if pause is not None and pause.active(now):
        return _pool_paused(name, pool, current, pause)
    if obs.stale is not None:
        fallback = pool.fallback
        if (
            fallback is not None
            and obs.stale_reads >= fallback.failure_threshold
            and fallback.replicas > current
        ):  # KEDA's fallback, but only ever up: missing data never scales a pool down
            told = (obs.stale, obs.stale_reads, fallback.replicas, current, fallback.replicas)
            replicas = fallback.replicas
            return Claim(
                name=name,
                pool=pool,
                current=current,
                floor=replicas,
                want=replicas,
                recommendation=replicas,
                reasons=[_reason("fallback", _FALLBACK, told)],
            )
        reason = _reason("stale", "{}: holding {} replicas", (obs.stale, current))
        return Claim.hold(name, pool, current, True, reason)

    args: tuple[object, ...]
    lag = obs.pending + obs.ack_pending
    tenant_name = pool.tenant
    if tenant_name in overrides.paused_tenants:
        reason = _reason("paused", _PAUSED, (tenant_name, lag))
        return Claim(
            name=name,
            pool=pool,
            current=current,
            floor=0,
            want=0,
            recommendation=0,
            reasons=[reason],
        )

    if demand is None:
        reasons: list[Reason] = []
        want = _demand(pool, obs, lag, current, reasons, config.target_wait[name])
        busy = _busy(pool, obs, current)
    else:
        want, busy = demand.footprint.demand, demand.footprint.busy
        reasons = list(demand.reasons)

    floor = pool.min_replicas
    until = math.inf
    pin = overrides.pins.get(name)
    if pin is not None and pin.active(now) and pin.replicas > floor:
        if pin.until is not None:
            until = pin.until
        floor = pin.replicas
        if floor > want:
            who = f" by {pin.by}" if pin.by else ""
            expiry = f" until {utc(pin.until)}" if pin.until is not None else ""
            reasons.append(
                _reason("pin", "pinned warm at {}{}{}: {} -> {}", (floor, who, expiry, want, floor))
            )
    elif floor > want:
        reasons.append(_reason("min_replicas", "min_replicas {}: {} -> {}", (floor, want, floor)))

    paced: int | None = None  # what the budget pace pays for: no time rule holds more
    rule = budget_rule(config.tenants[tenant_name], observations.tokens_today.get(tenant_name))
    if rule is not None:
        ours = Pool(
            name=name, config=pool, obs=obs, current=current, want=want, floor=floor, until=until
        )
        step = budget_step(rule, ours, config, observations, now, reasons)
        if isinstance(step, Claim):
            return step
        want, paced = step

    limit = pool.max_replicas
    if want > limit or floor > limit:
        args = (limit, max(want, floor), limit)
        reasons.append(_reason("max_replicas", "max_replicas {}: {} -> {}", args))
        want = min(want, limit)
        floor = min(floor, limit)
    recommendation = want if want > floor else floor

    if history is None:
        return Claim(
            name=name,
            pool=pool,
            current=current,
            floor=floor,
            want=recommendation,
            recommendation=recommendation,
            reasons=reasons,
            busy=busy,
            until=until,
        )
    past = history.pools.get(name) or _NEW_POOL
    target, settled = _time_rules(pool, past, current, recommendation, now, reasons, busy)
    until = settled if settled < until else until  # min(until, settled), a call less
    if paced is not None and target > paced and target > recommendation:
        # A window or cooldown would keep pods the budget cannot pay for: tokens are money,
        # so the pace wins (they go now, as a hard cap's do).
        held = paced if paced > recommendation else recommendation
        reasons.append(_reason(WARNING, _PACED, (target, held)))
        target = held
    # The part of the demand that has lasted SUSTAINED_S: only it takes replicas that time
    # rules keep in other pools (hysteresis under a short shared ceiling).
    lowest = past.lowest_since(now - SUSTAINED_S)
    steady = recommendation
    if lowest is not None and lowest[1] < recommendation:
        steady = lowest[1]
        leaves = lowest[0] + SUSTAINED_S
        until = leaves if leaves < until else until
    if target > recommendation:  # kept by time alone: yields under a short shared ceiling
        return Claim(
            name=name,
            pool=pool,
            current=current,
            floor=floor,
            want=recommendation,
            recommendation=recommendation,
            reasons=reasons,
            kept=target,
            busy=busy,
            steady=steady,
            until=until,
        )
    if target < floor:  # a rate policy holds it below its floor for now
        floor = target
    return Claim(
        name=name,
        pool=pool,
        current=current,
        floor=floor,
        want=target,
        recommendation=recommendation,
        reasons=reasons,
        busy=busy,
        steady=steady if steady < target else target,
        until=until,
    )


def _pool_paused(name: str, pool: PoolConfig, current: int, pause: PoolPause) -> Claim:
    """A paused pool (KEDA's paused-replicas): where it is, or the operator's number; no
    demand, time rule or budget moves it (the shared ceilings still bound a rise)."""
    who = f" by {pause.by}" if pause.by else ""
    expiry = f" until {utc(pause.until)}" if pause.until is not None else ""
    until = pause.until if pause.until is not None else math.inf
    if pause.replicas is None or pause.replicas == current:
        reason = _reason(POOL_PAUSED, _POOL_HOLDS, (who, expiry, current))
        claim = Claim.hold(name, pool, current, True, reason)
        claim.until = until
        return claim
    target = pause.replicas
    reason = _reason(POOL_PAUSED, _POOL_AT, (who, expiry, target, current, target))
    return Claim(
        name=name,
        pool=pool,
        current=current,
        floor=target,
        want=target,
        recommendation=target,
        reasons=[reason],
        until=until,
    )


def utc(ts: float) -> str:
    """A time of day as operators read it in reasons: HH:MM:SS UTC."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(ts))


MAX_RATE = 1e6
"""Tasks a second: above this an arrival rate is not a measurement."""


def _reason(rule: str, template: str, args: tuple[object, ...]) -> Reason:
    return Reason(rule=rule, template=template, args=args)


_NO_DATA = "no data for this pool: left unchanged (missing data never scales down)"
_NO_DATA_REASON = Reason("no observation", _NO_DATA)
_NO_DATA_BECAUSE = "{}: left unchanged (missing data never scales down)"
_FALLBACK = "{} ({} reads in a row): fallback {} replicas, {} -> {}"
_PAUSED = "tenant {} paused by an operator: 0 replicas, lag {} stays queued"
POOL_PAUSED = "pool paused"
_POOL_HOLDS = "paused{}{}: holding {} replicas"
_POOL_AT = "paused{}{}: set to {}, {} -> {}"
CONTROLLER_PAUSED = "controller paused"
_CONTROLLER_HOLDS = "paused by an operator: holding {} replicas"
_CONTROLLER_WOULD = "paused by an operator: holding {} replicas (would scale {} -> {})"
_PACED = "the budget pace pays for no more: the time rules' {} -> {}"
_AT_ZERO = "lag {} <= activation_lag {}: stay at zero"
_DEMAND = "lag {} (pending {} + ack_pending {}) / {:g} per replica -> {}"
_DEMAND_AHEAD = (
    "lag {} (pending {} + ack_pending {}) + {:g} arriving beyond the ready pods' pace "
    "during a {:g} s cold start, / {:g} per replica -> {}"
)
_KEEP_UP = (
    "below {} replicas, arrivals {:.2f}/s x {:.1f} s a task outpace concurrency {} while {} "
    "wait, and the cold-start lookahead would ask them back: {} -> {}"
)
_STAFFING = (
    "arrivals {:.2f}/s x {:.1f} s a task = {:.1f} busy; target wait {:g} s (square-root "
    "staffing, 95% within it) / concurrency {} -> {}"
)
_ARRIVAL = (
    "arrivals {:.2f}/s x {:.1f} s a task = {:.1f} in the system (Little's law) / {:g} per "
    "replica -> {}, served before a backlog builds"
)


class Footprint(NamedTuple):
    """What `claim` takes from an observation for its numbers. The incremental engine rests
    on it: two observations with the same footprint give the same claim numbers (the reasons
    quote the rest: pending, rate, ...), so a pool whose footprint did not change is not
    claimed again (controller.core.engine)."""

    stale: bool
    replicas: int
    demand: int
    """Step 2: what the backlog and the arrivals ask for, before any rule (0 when stale)."""
    lagging: bool
    """Whether any task was pending or in flight (what the history records)."""
    busy: int
    """Replicas at work now (tasks in flight over concurrency), at most `replicas`."""


class Demanded(NamedTuple):
    """Step 2 for one observation, explained: what `claim` works out from the observation
    before any rule of the operators, the budget or the history. One is made per reading."""

    footprint: Footprint
    reasons: tuple[Reason, ...]
    """Why that demand (none for a stale observation, which has none)."""


def footprint(pool: PoolConfig, obs: PoolObservation, wait: float | None = None) -> Footprint:
    """The observation's footprint (`wait` is the tier's target_wait_seconds,
    Config.target_wait)."""
    return demanded(pool, obs, wait).footprint


def demanded(pool: PoolConfig, obs: PoolObservation, wait: float | None = None) -> Demanded:
    """`footprint`, with the reasons `claim` gives for the demand. A shell that holds one
    reading over several claims (controller.core.engine) works step 2 out once a reading,
    for both: whether to claim again, and the claim."""
    lag = obs.pending + obs.ack_pending
    replicas = obs.replicas
    if obs.stale is not None:
        mark = Footprint(stale=True, replicas=replicas, demand=0, lagging=lag > 0, busy=0)
        return Demanded(footprint=mark, reasons=())
    reasons: list[Reason] = []
    demand = _demand(pool, obs, lag, replicas, reasons, wait)
    mark = Footprint(
        stale=False,
        replicas=replicas,
        demand=demand,
        lagging=lag > 0,
        busy=_busy(pool, obs, replicas),
    )
    return Demanded(footprint=mark, reasons=tuple(reasons))


def _busy(pool: PoolConfig, obs: PoolObservation, current: int) -> int:
    """Replicas at work now (tasks in flight over concurrency), at most the current ones."""
    busy = -(-obs.ack_pending // pool.concurrency)
    return busy if busy < current else current


def _demand(
    pool: PoolConfig,
    obs: PoolObservation,
    lag: int,
    current: int,
    reasons: list[Reason],
    wait: float | None = None,
) -> int:
    """Step 2, explained into `reasons`: the larger of

    - the backlog: lag, plus what will arrive beyond the ready pods' pace while a new pod
      starts (net inflow x cold start), over target_lag_per_replica;
    - the steady load: arrival rate x task time / concurrency (Little's law), with headroom
      for the tier's `target_wait_seconds` when it has one (square-root staffing)."""
    args: tuple[object, ...]
    if current == 0 and lag <= pool.activation_lag:
        args = (lag, pool.activation_lag)
        reasons.append(_reason("demand", _AT_ZERO, args))
        return 0
    per_replica = pool.target_lag_per_replica
    rate, seconds = obs.arrival_rate, obs.mean_task_seconds
    # The sources bound these; a value that still is not a measurement (NaN, inf, absurd)
    # is ignored here too, never let to overflow the pass: only the lag counts then.
    if rate is not None and not 0.0 <= rate <= MAX_RATE:
        rate = None
    if seconds is not None and not 0.0 <= seconds <= MAX_TASK_SECONDS:
        seconds = None
    concurrency = pool.concurrency
    ahead = 0
    keep = 0
    lookahead = bool(rate and seconds and pool.cold_start_seconds and obs.pending)
    if lookahead:
        # Net inflow: arrivals beyond what the ready pods finish. While tasks wait and it is
        # positive, the queue grows by that much for every second a new pod takes to start.
        ahead = _ahead(pool, rate or 0.0, seconds or 0.0, obs.ready)
    demand = math.ceil((lag + ahead) / per_replica - 1e-9)
    if lookahead and demand < current:
        # Down only as far as the lookahead would not ask back at once: with fewer ready
        # pods the inflow turns positive, and a pool flapped 2 -> 1 -> 2 under a steady
        # stream each time a window (or a pin) let go. The fewest replicas r with
        # ceil((lag + ahead at r) / target) <= r (it only falls as r grows: bisect).
        low, high = demand, current
        while low < high:
            middle = (low + high) // 2
            if _ahead_demand(pool, rate or 0.0, seconds or 0.0, lag, middle) <= middle:
                high = middle
            else:
                low = middle + 1
        keep = low
    if ahead:
        args = (
            lag,
            obs.pending,
            obs.ack_pending,
            ahead,
            pool.cold_start_seconds,
            per_replica,
            demand,
        )
        reasons.append(_reason("demand", _DEMAND_AHEAD, args))
    else:
        args = (lag, obs.pending, obs.ack_pending, per_replica, demand)
        reasons.append(_reason("demand", _DEMAND, args))
    if keep > demand:
        args = (keep, rate, seconds, concurrency, obs.pending, demand, keep)
        reasons.append(_reason("demand", _KEEP_UP, args))
        demand = keep
    if rate and seconds:
        # Little's law: the arrivals keep rate x task time tasks in the system, lag to come,
        # held to the same target per replica as the lag (or concurrency, if larger: a replica
        # never has more at work at once). Counted over what the rate window has seen: n
        # arrivals in it never ask for more than n (a lone task is not a stream of them); the
        # lag covers tasks that outlast the window, each one running in ack_pending.
        inside = rate * (seconds if seconds < RATE_WINDOW_S else RATE_WINDOW_S)
        per = per_replica if per_replica > concurrency else concurrency
        steady = math.ceil(inside / per - 1e-9)
        if wait is not None and inside > 0:
            slots = _staffing(inside, seconds, wait)
            staffed = math.ceil(slots / concurrency - 1e-9)
            if staffed > steady and staffed > demand:
                args = (rate, seconds, inside, wait, concurrency, staffed)
                reasons.append(_reason("latency objective", _STAFFING, args))
                return staffed
        if steady > demand:
            args = (rate, seconds, inside, per, steady)
            reasons.append(_reason("arrival", _ARRIVAL, args))
            demand = steady
    return demand


def _ahead(pool: PoolConfig, rate: float, seconds: float, ready: int) -> int:
    """Tasks arriving beyond what `ready` pods finish while a new pod starts: whole tasks,
    and never more than the rate window saw arrive (a few arrivals are not a stream to
    project over a long cold start)."""
    net = rate - ready * pool.concurrency / seconds
    if net <= 0:
        return 0
    seen = rate * RATE_WINDOW_S
    coming = net * pool.cold_start_seconds
    return math.floor((coming if coming < seen else seen) + 1e-9)


def _ahead_demand(pool: PoolConfig, rate: float, seconds: float, lag: int, ready: int) -> int:
    """The backlog's demand with `ready` pods ready."""
    ahead = _ahead(pool, rate, seconds, ready)
    return math.ceil((lag + ahead) / pool.target_lag_per_replica - 1e-9)


def _staffing(load: float, seconds: float, wait: float) -> float:
    """Square-root staffing (Halfin-Whitt): the fewest slots a + b x sqrt(a) for an offered
    load of `a` busy slots such that at most 5% of tasks wait longer than `wait`, where
    P(wait > t) = P(wait) x exp(-(slots - a) x t / seconds)."""
    root = math.sqrt(load)
    low, high = 0.0, 8.0
    for _ in range(24):
        beta = (low + high) / 2
        if _late(beta, root, seconds, wait) <= 0.05:
            high = beta
        else:
            low = beta
    return load + high * root


def _late(beta: float, root: float, seconds: float, wait: float) -> float:
    """The Halfin-Whitt share of tasks waiting longer than `wait` at b = `beta`."""
    if beta <= 0:
        return 1.0
    density = math.exp(-beta * beta / 2) / math.sqrt(2 * math.pi)
    below = 0.5 * (1 + math.erf(beta / math.sqrt(2)))
    waits = 1 / (1 + beta * below / density)
    return waits * math.exp(-beta * root * wait / seconds)


def _time_rules(
    pool: PoolConfig,
    past: PoolHistory,
    current: int,
    target: int,
    now: float,
    reasons: list[Reason],
    busy: int = 0,
) -> tuple[int, float]:
    """Cooldown, stabilization and rate policies on the pool's own recommendation; and until
    when they give the same by themselves: when the cooldown ends, or an entry that bound
    leaves its window. (One that did not bind cannot start to as entries leave: a window's
    lowest only rises, its highest only falls, a rate limit's room only grows.)

    Runs for every pool at every tick: conditional expressions stand for min() and max()
    (the same values, without a call each)."""
    args: tuple[object, ...]
    keep = None
    if pool.learns_keep_alive:  # a pool new to the history knows no level yet
        keep = past.keep if past.keep is not None else KeepAlive.for_pool(pool)
    until = math.inf
    if keep is not None:
        hold = keep.hold(now, current, target)
        until = hold.until  # a level's release or pre-warm changes the answer by itself
        target = _held(hold, current, target, now, reasons)
        if target < busy and target < current:
            # A pod at work is never given up to save idle time: its task would start over.
            at_work = busy if busy < current else current
            args = (at_work, target, at_work)
            reasons.append(Reason(rule="at work", template=_AT_WORK, args=args))
            target = at_work
    if target == current:
        return target, until  # no rule below applies: nothing to cool, hold or limit
    if keep is None and target == 0 and current > 0:
        busy_at = past.busy_at if past.busy_at is not None else now  # recorded from now on
        idle = now - busy_at
        if idle < pool.cooldown_seconds:
            until = busy_at + pool.cooldown_seconds
            # Times of day, not "idle N s": the reason stays true while nothing else moves
            # (the engine claims the pool again only at `until`).
            args = (utc(busy_at), pool.cooldown_seconds, utc(until))
            reasons.append(_reason("cooldown", _COOLDOWN, args))
            target = 1

    desired = target
    if target > current > 0:
        up = pool.behavior.scale_up
        if target <= current * (1 + up.tolerance):
            args = (target, up.tolerance, current)
            reasons.append(_reason("tolerance", _TOLERANCE, args))
            return current, until
        window = up.stabilization_seconds
        lowest = past.lowest_since(now - window) if window else None
        if lowest is not None and lowest[1] < target:
            desired = lowest[1] if lowest[1] > current else current  # max(current, lowest)
            leaves = lowest[0] + window
            until = leaves if leaves < until else until
            args = (window, lowest[1], target, desired)
            reasons.append(_reason("stabilization", _LOWEST, args))
    elif target < current:
        down = pool.behavior.scale_down
        if target >= current * (1 - down.tolerance) and target > 0:
            args = (target, down.tolerance, current)
            reasons.append(_reason("tolerance", _TOLERANCE, args))
            return current, until
        window = down.stabilization_seconds if keep is None else 0.0
        highest = past.highest_since(now - window) if window else None
        if highest is not None and highest[1] > target:
            desired = highest[1] if highest[1] < current else current  # min(current, highest)
            leaves = highest[0] + window
            until = leaves if leaves < until else until
            args = (window, highest[1], target, desired)
            reasons.append(_reason("stabilization", _HIGHEST, args))

    # From zero there is no "replicas at the start of the period" to take a percent of: a
    # pool woken from zero goes straight to its demand, and the policies govern from there.
    if desired > current > 0:
        up = pool.behavior.scale_up
        limit, leaves = _rate_limit(up, past, current, now, 1)
        # Even when it does not bind, a step leaving its period can tighten the limit (a
        # removal no longer counted lowers the period's start), so the claim holds until then.
        until = leaves if leaves < until else until
        if desired > limit and past.keep is not None and pool.regrows:
            limit, leaves = _regrow(past.keep, desired, limit, now, reasons)
            until = leaves if leaves < until else until
        if desired > limit:
            args = (up, limit, desired, limit)  # the rule reads as describe() when shown
            desired = limit
            reasons.append(_reason("rate limit", _RATE_UP, args))
    elif desired < current:
        down = pool.behavior.scale_down
        limit, leaves = _rate_limit(down, past, current, now, -1)
        if desired < limit:
            args = (down, limit, desired, limit)
            desired = limit
            until = leaves if leaves < until else until
            reasons.append(_reason("rate limit", _RATE_DOWN, args))
    return desired, until


def _held(hold: Hold, current: int, target: int, now: float, reasons: list[Reason]) -> int:
    """What the learned keep-alive makes of the recommendation: an idle level held while its
    gaps say the next burst is worth waiting for (never above the current replicas), or
    pre-warmed ahead of a burst that recurs."""
    plan = hold.plan
    if plan is None or hold.replicas <= target:
        return target
    since = hold.since
    args: tuple[object, ...]
    if plan.prewarm_s is not None and since + plan.prewarm_s <= now:
        # Past the release after one cold start: this is the pre-warm, up to the level.
        args = (
            plan.shortest_s,
            plan.median_s,
            plan.gaps,
            utc(since),
            utc(since + plan.prewarm_s),
            utc(since + plan.hold_s),
            target,
            hold.replicas,
        )
        reasons.append(Reason(rule="pre-warm", template=_PREWARM, args=args))
        return hold.replicas
    kept = hold.replicas if hold.replicas < current else current
    if kept <= target:
        return target
    end = utc(since + plan.hold_s)
    if plan.learned:
        args = (
            hold.replicas,
            utc(since),
            plan.gaps,
            plan.median_s,
            plan.hold_s,
            end,
            target,
            kept,
        )
        reasons.append(Reason(rule="keep-alive", template=_KEEP_LEARNED, args=args))
    else:
        args = (hold.replicas, utc(since), plan.gaps, plan.hold_s, end, target, kept)
        reasons.append(Reason(rule="keep-alive", template=_KEEP_DEFAULT, args=args))
    return kept


def _regrow(
    keep: KeepAlive, desired: int, limit: int, now: float, reasons: list[Reason]
) -> tuple[int, float]:
    """Replicas the pool had within REGROW_S come back past the scale-up rate policies: the
    new limit, and until when that stands (when the scale-down leaves the span)."""
    peak, used = keep.recent_peak(now - REGROW_S)
    if peak <= limit:
        return limit, math.inf
    regrown = peak if peak < desired else desired
    args = (peak, utc(used), limit, regrown)
    reasons.append(Reason(rule="regrow", template=_REGROW, args=args))
    return regrown, used + REGROW_S


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


BIG = 1 << 30
"""No rate limit: more replicas than anything asks for."""
_TOLERANCE = "{} is within {:.0%} of {}: keep them"
_LOWEST = "lowest recommendation in the last {:g} s is {}: {} -> {}"
_HIGHEST = "highest recommendation in the last {:g} s is {}: {} -> {}"
_COOLDOWN = "idle since {} (cooldown {:g} s, to zero at {}): keep 1"
_KEEP_LEARNED = (
    "{} replicas idle since {}; their last {} gaps (median {:.0f} s) say hold {:.0f} s, "
    "to {}: {} -> {}"
)
_KEEP_DEFAULT = (
    "{} replicas idle since {}; {} gaps known, no pattern yet: hold {:.0f} s, to {}: {} -> {}"
)
_PREWARM = (
    "bursts recur (gaps from {:.0f} s, median {:.0f} s, {} seen): idle since {}, pre-warmed "
    "from {} to {}: {} -> {}"
)
_AT_WORK = "{} replicas at work, none given up mid-task: {} -> {}"
_REGROW = "regrow: had {} replicas until {}; the rate limit's {} waived: up to {}"
_RATE_UP = "scale-up policy {}: at most {} now, {} -> {}"
_RATE_DOWN = "scale-down policy {}: at least {} now, {} -> {}"
