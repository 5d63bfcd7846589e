"""The scaling policy: observations + config + overrides (+ history) -> decisions with reasons.

Pure: no I/O and no clock; `now` is an argument, so the live loop, the tests and the simulator
run exactly this code. Per pool, in order:

1. lag = pending + ack_pending;
2. demand = ceil(lag / target_lag_per_replica) (0 from zero while lag <= activation_lag), or
   the arrival rate x mean task time / concurrency (Little's law) when that is larger;
3. floor = max(min_replicas, operator pin); a paused tenant gets 0;
4. token budget: exhausted with hard_cap -> 0; past warn_at -> no growth beyond current
   (a pool at zero with lag keeps one replica, so its tasks are not stranded);
5. max_replicas, then the shared ceilings (provider rpm, tenant max_pods, cluster max_pods),
   served by tier priority (controller.allocation);
6. with history only: cooldown before zero, stabilization windows and rate policies, like the
   HPA. These act on the pool's own recommendation, before the shared ceilings, so the
   ceilings stay hard.
"""

from __future__ import annotations

import math

from controller.allocation import Claim, allocate
from controller.config import Config, PoolConfig, TenantConfig
from controller.history import History, PoolHistory
from controller.model import Observations, Overrides, PoolObservation, Reason, ScaleDecision

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
    return [claim.decision() for claim in claims]


def claim(
    name: str,
    pool: PoolConfig,
    config: Config,
    observations: Observations,
    overrides: Overrides,
    history: History | None,
    now: float,
) -> Claim:
    """One pool's bid before the shared ceilings (steps 1-4 and 6): what `decide` asks of
    `allocate` for it. Its numbers depend on the pool's observation only through `footprint`,
    on its tenant's usage only through `budget_rule`, and on `now` only until `Claim.until`
    (given a history that meanwhile records only this recommendation); the reasons quote the
    exact figures."""
    obs = observations.pools.get(name)
    if obs is None:
        why = observations.unobserved.get(name)
        reason = _reason("no observation", _NO_DATA_BECAUSE, (why,)) if why else _NO_DATA_REASON
        return Claim.hold(name, pool, 0, False, reason)
    current = obs.replicas
    if obs.stale is not None:
        reason = _reason("stale", "{}: holding {} replicas", (obs.stale, current))
        return Claim.hold(name, pool, current, True, reason)

    reasons: list[Reason] = []
    args: tuple[object, ...]
    lag = obs.pending + obs.ack_pending
    tenant_name = pool.tenant
    if tenant_name in overrides.paused_tenants:
        reasons.append(_reason("paused", _PAUSED, (tenant_name, lag)))
        return Claim(name, pool, current, 0, 0, 0, reasons)

    want = _demand(pool, obs, lag, current, reasons)

    floor = pool.min_replicas
    until = math.inf
    pin = overrides.pins.get(name)
    if pin is not None and pin.active(now) and pin.replicas > floor:
        if pin.until is not None:
            until = pin.until
        floor = pin.replicas
        if floor > want:
            who = f" by {pin.by}" if pin.by else ""
            expiry = f" until {pin.until:g}" if pin.until is not None else ""
            reasons.append(_reason("pin", "pinned warm at {}{}{}: {} -> {}",
                                   (floor, who, expiry, want, floor)))  # fmt: skip
    elif floor > want:
        reasons.append(_reason("min_replicas", "min_replicas {}: {} -> {}", (floor, want, floor)))

    tenant = config.tenants[tenant_name]
    budget = tenant.daily_token_budget
    used = observations.tokens_today.get(tenant_name) if budget is not None else None
    rule = budget_rule(tenant, used) if used is not None else None
    if rule is not None and budget is not None and used is not None:
        stale = observations.stale_tokens.get(tenant_name)
        note = f" (last known; {stale})" if stale else ""
        if rule == EXHAUSTED:
            args = (tenant_name, used, budget, note, lag)
            reasons.append(_reason(EXHAUSTED, _EXHAUSTED, args))
            return Claim(name, pool, current, 0, 0, 0, reasons)
        # No growth; but a pool at zero with tasks waiting keeps one replica, or its
        # tasks would be stranded until midnight with budget still left to spend.
        cap = max(current, floor, 1 if lag > 0 else 0)
        if want > cap:
            args = (tenant_name, used, budget, note, tenant.warn_at, cap, want, cap)
            reasons.append(_reason(WARNING, _WARNING, args))
            want = cap

    limit = pool.max_replicas
    if want > limit or floor > limit:
        args = (limit, max(want, floor), limit)
        reasons.append(_reason("max_replicas", "max_replicas {}: {} -> {}", args))
        want = min(want, limit)
        floor = min(floor, limit)
    recommendation = want if want > floor else floor

    if history is None:
        return Claim(name, pool, current, floor, recommendation, recommendation, reasons,
                     until=until)  # fmt: skip
    past = history.pools.get(name) or _NEW_POOL
    target, settled = _time_rules(pool, past, current, recommendation, now, reasons)
    if target > recommendation or target < floor:  # held above its bid, or below its floor
        floor = target
    until = settled if settled < until else until  # min(until, settled), a call less
    return Claim(name, pool, current, floor, target, recommendation, reasons, until=until)


EXHAUSTED = "budget exhausted"
WARNING = "budget warning"


def budget_rule(tenant: TenantConfig, used: int | None) -> str | None:
    """Which budget rule holds a tenant's pools back at `used` tokens today: EXHAUSTED (a
    hard cap reached: 0 replicas), WARNING (past warn_at: no growth) or none. Between two
    passes a tenant's pools can decide differently for its usage only if this changes."""
    budget = tenant.daily_token_budget
    if budget is None or used is None:
        return None
    if used >= budget and tenant.hard_cap:
        return EXHAUSTED
    if used >= tenant.warn_at * budget:
        return WARNING
    return None


def _reason(rule: str, template: str, args: tuple[object, ...]) -> Reason:
    """`Reason(rule, template, args)`: the same named tuple, built without its generated
    `__new__` (a Python call less). The policy gives a few for every pool at every tick."""
    return tuple.__new__(Reason, (rule, template, args))


_NO_DATA = "no data for this pool: left unchanged (missing data never scales down)"
_NO_DATA_REASON = Reason("no observation", _NO_DATA)
_NO_DATA_BECAUSE = "{}: left unchanged (missing data never scales down)"
_PAUSED = "tenant {} paused by an operator: 0 replicas, lag {} stays queued"
_EXHAUSTED = (
    "tenant {} used {:,} of {:,} tokens today{} (hard cap): 0 replicas, lag {} stays queued"
)
_WARNING = (
    "tenant {} used {:,} of {:,} tokens today{} (warn at {:.0%}): no growth beyond {}, {} -> {}"
)
_AT_ZERO = "lag {} <= activation_lag {}: stay at zero"
_DEMAND = "lag {} (pending {} + ack_pending {}) / {:g} per replica -> {}"
_ARRIVAL = (
    "arrivals {:.2f}/s x {:.1f} s a task / concurrency {} -> {} busy (Little's law), "
    "served before a backlog builds"
)


def footprint(pool: PoolConfig, obs: PoolObservation) -> tuple[bool, int, int, bool]:
    """What `claim` takes from an observation for its numbers: whether it is stale, the
    replicas, the demand (step 2) and whether there is lag. Two observations with the same
    footprint give the same numbers (the reasons quote the rest: pending, rate, ...)."""
    lag = obs.pending + obs.ack_pending
    if obs.stale is not None:
        return True, obs.replicas, 0, lag > 0
    return False, obs.replicas, _demand(pool, obs, lag, obs.replicas, None), lag > 0


def _demand(
    pool: PoolConfig, obs: PoolObservation, lag: int, current: int, reasons: list[Reason] | None
) -> int:
    """Step 2, explained into `reasons` (when given)."""
    args: tuple[object, ...]
    if current == 0 and lag <= pool.activation_lag:
        if reasons is not None:
            args = (lag, pool.activation_lag)
            reasons.append(_reason("demand", _AT_ZERO, args))
        return 0
    per_replica = pool.target_lag_per_replica
    demand = math.ceil(lag / per_replica)
    if reasons is not None:
        args = (lag, obs.pending, obs.ack_pending, per_replica, demand)
        reasons.append(_reason("demand", _DEMAND, args))
    rate, seconds = obs.arrival_rate, obs.mean_task_seconds
    if rate and seconds:
        concurrency = pool.concurrency
        steady = math.ceil(rate * seconds / concurrency - 1e-9)
        if steady > demand:
            if reasons is not None:
                args = (rate, seconds, concurrency, steady)
                reasons.append(_reason("arrival", _ARRIVAL, args))
            demand = steady
    return demand


def _time_rules(
    pool: PoolConfig,
    past: PoolHistory,
    current: int,
    target: int,
    now: float,
    reasons: list[Reason],
) -> tuple[int, float]:
    """Cooldown, stabilization and rate policies on the pool's own recommendation; and until
    when they give the same by themselves: when the cooldown ends, or an entry that bound
    leaves its window. (One that did not bind cannot start to as entries leave: a window's
    lowest only rises, its highest only falls, a rate limit's room only grows.)

    Runs for every pool at every tick: conditional expressions stand for min() and max()
    (the same values, without a call each)."""
    if target == current:
        return target, math.inf  # no rule below applies: nothing to cool, hold or limit
    args: tuple[object, ...]
    until = math.inf
    if target == 0 and current > 0:
        busy = past.busy_at if past.busy_at is not None else now  # recorded from now on
        idle = now - busy
        if idle < pool.cooldown_seconds:
            args = (idle, pool.cooldown_seconds)
            reasons.append(_reason("cooldown", _COOLDOWN, args))
            target = 1
            until = busy + pool.cooldown_seconds

    desired = target
    if target > current > 0:
        window = pool.behavior.scale_up.stabilization_seconds
        lowest = past.lowest_since(now - window)
        if lowest is not None and lowest[1] < target:
            desired = lowest[1] if lowest[1] > current else current  # max(current, lowest)
            leaves = lowest[0] + window
            until = leaves if leaves < until else until
            args = (window, lowest[1], target, desired)
            reasons.append(_reason("stabilization", _LOWEST, args))
    elif target < current:
        window = pool.behavior.scale_down.stabilization_seconds
        highest = past.highest_since(now - window)
        if highest is not None and highest[1] > target:
            desired = highest[1] if highest[1] < current else current  # min(current, highest)
            leaves = highest[0] + window
            until = leaves if leaves < until else until
            args = (window, highest[1], target, desired)
            reasons.append(_reason("stabilization", _HIGHEST, args))

    if desired > current:
        up = pool.behavior.scale_up
        most, period = up.max_pods, up.period_seconds
        added, first = past.added_since(now - period)
        room = most - added if most > added else 0
        if desired > current + room:
            args = (most, "added", period, most - room, desired, current + room)
            desired = current + room
            leaves = first + period
            until = leaves if leaves < until else until
            reasons.append(_reason("rate limit", _RATE, args))
    elif desired < current:
        down = pool.behavior.scale_down
        most, period = down.max_pods, down.period_seconds
        removed, first = past.removed_since(now - period)
        room = most - removed if most > removed else 0
        if desired < current - room:
            args = (most, "removed", period, most - room, desired, current - room)
            desired = current - room
            leaves = first + period
            until = leaves if leaves < until else until
            reasons.append(_reason("rate limit", _RATE, args))
    return desired, until


_LOWEST = "lowest recommendation in the last {:g} s is {}: {} -> {}"
_HIGHEST = "highest recommendation in the last {:g} s is {}: {} -> {}"
_COOLDOWN = "idle {:.0f} s of cooldown {:g} s: keep 1"
_RATE = "at most {} pods {} per {:g} s ({} already): {} -> {}"
