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
from collections.abc import Mapping
from dataclasses import replace

from controller.core.allocation import Claim, allocate
from controller.core.budget import (
    EXHAUSTED,
    WARNING,
    Paced,
    Pool,
    budget_rule,
    budget_step,
)
from controller.core.budget_price import in_flight
from controller.core.budget_uncounted import uncounted_rule
from controller.core.budget_unpriced import unpriced_cap
from controller.core.budget_words import EXHAUSTED_WORDS, stale_note
from controller.core.config import Config, PoolConfig
from controller.core.demand import Demanded, demanded
from controller.core.held_claims import POOL_PAUSED, controller_paused, held_back, unobserved
from controller.core.history import SUSTAINED_S, History, PoolHistory, peer_sustained
from controller.core.model import (
    InFlight,
    Observations,
    Overrides,
    Pin,
    PoolObservation,
    Reason,
    ScaleDecision,
    utc,
)
from controller.core.time_rules import time_rules

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
    observations = replace(observations, in_flight=tenants_in_flight(config, observations.pools))
    claims = [
        claim(name, pool, config, observations, overrides, history, now)
        for name, pool in config.pools.items()
    ]
    allocate(config, claims)
    if overrides.paused:
        return [controller_paused(claim.decision()) for claim in claims]
    return [claim.decision() for claim in claims]


def _floor_reason(pin: Pin | None, floor: int, want: int) -> Reason:
    """Why the pool gets `floor` where its demand (or the budget's pace) asks for `want`."""
    if pin is None:
        return Reason(
            rule="min_replicas", template="min_replicas {}: {} -> {}", args=(floor, want, floor)
        )
    who = f" by {pin.by}" if pin.by else ""
    # Dated: the reason is read later, on a day it cannot know.
    expiry = f" until {utc(pin.until)}" if pin.until is not None else ""
    return Reason(
        rule="pin",
        template="pinned warm at {}{}{}: {} -> {}",
        args=(floor, who, expiry, want, floor),
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
    on its tenant's usage and tasks held only through `budget_rule` (and, past warn_at, on
    its tokens, replica-seconds, spend forecast, lag and task time, and `now`: the budget
    pace), and otherwise on `now` only until `Claim.until` (given a history that meanwhile
    records only this recommendation); the reasons quote the exact figures. `demand`, if given, is
    `demanded()` of this very observation: step 2 is not worked out again
    (controller.core.engine keeps it per reading)."""
    obs = observations.pools.get(name)
    if obs is None:
        why = observations.unobserved.get(name)
        return unobserved(name, pool, why, observations.unscaled_replicas.get(name))
    held = held_back(name, pool, obs, overrides, now)
    if held is not None:
        return _capped_pause(held, config, observations)
    if demand is None:
        demand = demanded(pool, obs, config.target_wait[name])
    return _bid(name, pool, obs, config, observations, overrides, history, now, demand)


def _bid(
    name: str,
    pool: PoolConfig,
    obs: PoolObservation,
    config: Config,
    observations: Observations,
    overrides: Overrides,
    history: History | None,
    now: float,
    demand: Demanded,
) -> Claim:
    """`claim` of a pool that bids: its demand (step 2) held to its floor and pin (step 3),
    paced by its tenant's budget (step 4) and bounded by max_replicas, then the time rules
    (step 6) where there is a history."""
    current = obs.replicas
    want, busy = demand.footprint.demand, demand.footprint.busy
    reasons = list(demand.reasons)

    pin = _pin_above_floor(overrides.pins.get(name), pool, now)
    floor = pool.min_replicas if pin is None else pin.replicas
    until = math.inf if pin is None or pin.until is None else pin.until
    if floor > want:
        reasons.append(_floor_reason(pin, floor, want))

    ours = Pool(
        name=name, config=pool, obs=obs, current=current, want=want, floor=floor, until=until
    )
    step = _budget(ours, pin, config, observations, reasons)
    if isinstance(step, Claim):
        return step
    # paced: what the budget pays for, that no time rule holds more of
    want, paced = step.want, step.paced

    want, floor = _within_max(pool, want, floor, reasons)
    recommendation = want if want > floor else floor
    untimed = Claim(
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
    if history is None:
        return untimed
    mark = demand.footprint
    past = history.pools.get(name) or _NEW_POOL
    return _timed(untimed, past, paced, now, mark.top, mark.in_flight)


def tenants_in_flight(config: Config, pools: Mapping[str, PoolObservation]) -> dict[str, InFlight]:
    """Per tenant, the most its pools may have in flight as read (controller.core.budget_price's
    `in_flight`; the engine keeps the same sums as it reads)."""
    return {tenant: in_flight(config, names, pools) for tenant, names in config.pools_of.items()}


def _budget_rule(config: Config, observations: Observations, tenant: str) -> str | None:
    """The tenant's budget rule, with the most its pools may have in flight now."""
    spec = config.tenants[tenant]
    used = observations.tokens_today.get(tenant)
    if used is None:
        return uncounted_rule(spec, observations.stale_tokens.get(tenant))
    if spec.daily_token_budget is None:
        return None
    flights = observations.in_flight
    if flights is None:
        flights = tenants_in_flight(config, observations.pools)
    each = observations.task_tokens.get(tenant)
    if each is None:
        tasks = observations.tasks_today.get(tenant)
        each = used / tasks if tasks else None
    return budget_rule(spec, used, flights[tenant].spend(each))


def _budget(
    ours: Pool,
    pin: Pin | None,
    config: Config,
    observations: Observations,
    reasons: list[Reason],
) -> Claim | Paced:
    """Step 4: the tenant's budget rule applied to the pool (controller.core.budget.
    budget_step), its floor holding where the pace asks for less; then, under a hard cap, the
    hold on a pool none of whose tasks has reported (controller.core.budget_unpriced)."""
    step = Paced(want=ours.want, paced=None)
    rule = _budget_rule(config, observations, ours.config.tenant)
    if rule is not None:
        made = budget_step(rule, ours, config, observations, reasons)
        if isinstance(made, Claim):
            return made
        step = made
    first = unpriced_cap(config, observations, ours.obs, ours.config, step.want, reasons)
    if first is not None and first < step.want:
        step = Paced(want=first, paced=first if step.paced is None else min(step.paced, first))
    # The floor holds where the budget asks for less (the demand's own shortfall is said
    # before the budget): said after the rule that cut, or the reasons end on `15 -> 1`.
    if ours.floor > step.want and ours.floor <= ours.want:
        reasons.append(_floor_reason(pin, ours.floor, step.want))
    return step


def _capped_pause(held: Claim, config: Config, observations: Observations) -> Claim:
    """A paused pool's claim, unless its tenant's hard cap is reached: a pause holds a pool
    whatever its queue and time rules say, but a pod it kept would spend past the cap."""
    if not held.reasons or held.reasons[0].rule != POOL_PAUSED or held.recommendation == 0:
        return held
    tenant = held.pool.tenant
    if _budget_rule(config, observations, tenant) != EXHAUSTED:
        return held
    paused = held.reasons[0]
    said = Reason(rule=POOL_PAUSED, template=_POOL_CAPPED, args=(paused.detail,))
    used = observations.tokens_today[tenant]
    budget = config.tenants[tenant].daily_token_budget
    obs = observations.pools[held.name]
    args = (tenant, used, budget, stale_note(observations, tenant), obs.pending + obs.ack_pending)
    spent = Reason(rule=EXHAUSTED, template=EXHAUSTED_WORDS, args=args)
    return Claim(
        name=held.name,
        pool=held.pool,
        current=held.current,
        floor=0,
        want=0,
        recommendation=0,
        reasons=[said, spent],
        until=held.until,
    )


def _within_max(pool: PoolConfig, want: int, floor: int, reasons: list[Reason]) -> tuple[int, int]:
    """The want and floor, at most max_replicas (with a reason where that bound them)."""
    limit = pool.max_replicas
    if want <= limit and floor <= limit:
        return want, floor
    args = (limit, max(want, floor), limit)
    reasons.append(Reason(rule="max_replicas", template="max_replicas {}: {} -> {}", args=args))
    return min(want, limit), min(floor, limit)


def _pin_above_floor(pin: Pin | None, pool: PoolConfig, now: float) -> Pin | None:
    """The pool's pin while it is active and above the pool's own min_replicas (else None)."""
    if pin is not None and pin.active(now) and pin.replicas > pool.min_replicas:
        return pin
    return None


def _timed(
    claim: Claim, past: PoolHistory, paced: int | None, now: float, top: int, in_flight: bool
) -> Claim:
    """`claim` (its `want` the recommendation) once the time rules have spoken (step 6): the
    replicas they keep above it go in `kept`, a rate limit's hold lowers `want`, and
    `steady` is the part of the demand that has lasted (hysteresis under a short ceiling).
    `top`: where a scale-down lands (controller.core.demand.noise_top); `in_flight`: whether
    the demand is the tasks in flight's alone (controller.core.demand.Footprint)."""
    recommendation, reasons = claim.recommendation, claim.reasons
    timed = time_rules(
        claim.pool, past, claim.current, recommendation, now, reasons, claim.busy, top, in_flight
    )
    target, until = timed.replicas, min(claim.until, timed.until)
    if paced is not None and target > paced and target > recommendation:
        # A window or cooldown would keep pods the budget cannot pay for: tokens are money,
        # so the pace wins (they go now, as a hard cap's do).
        held = paced if paced > recommendation else recommendation
        reasons.append(Reason(rule=WARNING, template=_PACED, args=(target, held)))
        target = held
    # The parts of the demand that have lasted: only they take replicas that time rules keep
    # in other pools, and in pools of the pool's own tier only what has lasted longer
    # (hysteresis under a short shared ceiling).
    steady, until = _lasting(past, recommendation, now, SUSTAINED_S, until)
    peer, until = _lasting(past, recommendation, now, peer_sustained(claim.pool), until)
    claim.until = until
    if target > recommendation:  # kept by time alone: yields under a short shared ceiling
        claim.kept = target
        claim.steady, claim.peer_steady = steady, peer
        return claim
    if target < claim.floor:  # a rate policy holds it below its floor for now
        claim.floor = target
    claim.want = target
    claim.steady = steady if steady < target else target
    claim.peer_steady = peer if peer < target else target
    return claim


def _lasting(
    past: PoolHistory, recommendation: int, now: float, seconds: float, until: float
) -> tuple[int, float]:
    """The part of `recommendation` that has lasted `seconds`, and `until` brought forward to
    when that part can change by time alone (its lowest entry leaves the span)."""
    lowest = past.lowest_since(now - seconds)
    if lowest is None or lowest[1] >= recommendation:
        return recommendation, until
    leaves = lowest[0] + seconds
    return lowest[1], (leaves if leaves < until else until)


_POOL_CAPPED = "{}, but its tenant's hard cap is reached"
_PACED = "the budget pace pays for no more: the time rules' {} -> {}"
