"""Step 4 of the policy: a tenant's daily token budget.

- Exhausted with `hard_cap`: 0 replicas (the queue is kept).
- Spent with a soft cap: down to the floor (min_replicas, a pin) at once.
- Past `warn_at`: paced only if the tenant's forecast demand until its budget resets
  (controller.core.spend: its own profile by hour of day, or its recent burn rate, read no
  further ahead than it was seen), plus the tokens of the tasks waiting, is more than what is
  left (each pool weighs its share, by max_replicas, of both against its own queue). Then the
  forecast gets its fraction of what is left, spent along it: the pool gets the replicas that
  spend, now, that fraction of the forecast's rate (between two whole replicas, from one up,
  the one nearer to what it runs), so the pace follows the tenant's own hours and the
  forecast fits what is left. What is left beyond the whole forecast serves the tasks
  waiting now, a replica for each three rounds of tasks it pays: work the budget covers is
  never held back until the reset. A pace read from the burn rate alone (no profile yet) slows
  a pool with tasks waiting but never stops it: it keeps at least one replica while what is
  left pays for one's landing. Nor does a pace that pays for less than one replica leave the
  budget unspent: a pool with tasks waiting keeps one while the tenant has spent less than an
  even share of its budget by that hour of its day (controller.core.budget_one_replica).
  Whatever the forecast, a pool keeps no more replicas than its share of what is left pays
  two rounds of tasks each (three where its pool's own tokens a task are not known yet: the
  landing): the tasks in flight when the budget runs out do not overspend it.
- A hard cap whose tokens today are not known (its source has not answered since this
  process started): no growth until they are (controller.core.budget_uncounted).
- Past `warn_at` with no forecast yet (under ten minutes of spend seen and no profile for the
  hours left), or nothing to price a replica by: no growth; a pool at zero with tasks
  waiting keeps one.

Pure: the engine claims a paced tenant's pools again when its tokens or their readings move,
and when it reads the forecast and replica-seconds again, once a minute
(controller.core.spend_read.PACE_READ_S); what this reads of the clock is that read's time.
"""

from __future__ import annotations

import math
from typing import Final

from controller.core.allocation import Claim
from controller.core.budget_one_replica import one_replica
from controller.core.budget_price import LANDING_ROUNDS, Prices, paid_replicas, prices
from controller.core.budget_uncounted import UNCOUNTED, no_growth
from controller.core.budget_words import (
    EXHAUSTED_WORDS,
    FITS_WORDS,
    LANDING_WORDS,
    PACE_WORDS,
    SPENT_WORDS,
    UNKNOWN_WORDS,
    UNPRICED_WORDS,
    forecast_source,
    stale_note,
    waiting_note,
)
from controller.core.config import Config, PoolConfig, TenantConfig
from controller.core.model import Observations, PoolObservation, Reason
from controller.core.record import Record
from controller.core.spend_read import Forecast, SpendRead

EXHAUSTED: Final = "budget exhausted"
SPENT: Final = "budget spent"
WARNING: Final = "budget warning"


def budget_rule(tenant: TenantConfig, used: int | None, in_flight: float = 0.0) -> str | None:
    """Which budget rule holds a tenant's pools back at `used` tokens today: EXHAUSTED (a hard
    cap reached: 0 replicas), SPENT (a soft cap reached: down to the floor), WARNING (past
    warn_at, or with less left than LANDING_ROUNDS of the tokens its pools' tasks `in_flight`
    would spend: the forecast, the pace if it does not fit, and the landing) or none. Between
    two passes a tenant's pools can decide differently for its tokens and tasks waiting only
    if this changes."""
    budget = tenant.daily_token_budget
    if budget is None or used is None:
        return None
    if used >= budget:
        return EXHAUSTED if tenant.hard_cap else SPENT
    if used >= tenant.warn_at * budget:
        return WARNING
    # The tasks in flight when the budget runs out still spend, and as each finishes its pod
    # takes the next before the controller can let it go: the landing must begin while what
    # is left covers both rounds, whatever warn_at says. Counted as tasks finish, the tokens
    # may move a whole round at once (a backlog at the reset starts every slot together).
    if in_flight and budget - used <= LANDING_ROUNDS * in_flight:
        return WARNING
    return None


def holds_back(reason: Reason) -> bool:
    """Whether a budget's reason held its pool back: every one does but the warning that the
    forecast fits ("not paced"), which only says so."""
    if reason.rule == WARNING:
        return reason.template != FITS_WORDS
    return reason.rule in (EXHAUSTED, SPENT, UNCOUNTED)


class Paced(Record):
    """What the budget leaves a pool: its demand, and the most replicas the budget pays for
    (None: no limit, no time rule is cut)."""

    FIELDS = ("want", "paced")
    __slots__ = FIELDS

    want: int
    paced: int | None

    def __init__(self, *, want: int, paced: int | None) -> None:
        self.want = want
        self.paced = paced


class Pool(Record):
    """A pool's claim so far, as step 4 reads it."""

    FIELDS = ("name", "config", "obs", "current", "want", "floor", "until")
    __slots__ = FIELDS

    name: str
    config: PoolConfig
    obs: PoolObservation
    current: int
    want: int
    floor: int
    until: float

    def __init__(
        self,
        *,
        name: str,
        config: PoolConfig,
        obs: PoolObservation,
        current: int,
        want: int,
        floor: int,
        until: float,
    ) -> None:
        self.name = name
        self.config = config
        self.obs = obs
        self.current = current
        self.want = want
        self.floor = floor
        self.until = until


def budget_step(
    rule: str,
    pool: Pool,
    config: Config,
    observations: Observations,
    reasons: list[Reason],
) -> Claim | Paced:
    """Step 4 for one pool of a tenant under a budget `rule`: a final Claim (exhausted,
    spent), or the demand left and the pace."""
    tenant_name = pool.config.tenant
    tenant = config.tenants[tenant_name]
    budget = tenant.daily_token_budget
    assert budget is not None
    if rule == UNCOUNTED:
        why = observations.stale_tokens[tenant_name]
        kept = no_growth(
            tenant_name, budget, why, pool.want, max(pool.current, pool.floor), reasons
        )
        return Paced(want=kept, paced=None)
    used = observations.tokens_today[tenant_name]
    name, obs, current, floor = pool.name, pool.obs, pool.current, pool.floor
    lag = obs.pending + obs.ack_pending
    note = stale_note(observations, tenant_name)
    said = (tenant_name, used, budget, note)
    if rule == EXHAUSTED:
        reasons.append(Reason(rule=EXHAUSTED, template=EXHAUSTED_WORDS, args=(*said, lag)))
        return Claim(
            name=name,
            pool=pool.config,
            current=current,
            floor=0,
            want=0,
            recommendation=0,
            reasons=reasons,
            until=pool.until,
        )
    if rule == SPENT:
        # A soft cap: down to what the operator keeps warm (min_replicas, a pin), at once.
        # No window or cooldown holds a pod that spends past the budget; the queue waits for
        # the reset.
        kept = min(floor, pool.config.max_replicas)
        reasons.append(Reason(rule=SPENT, template=SPENT_WORDS, args=(*said, kept, lag)))
        return Claim(
            name=name,
            pool=pool.config,
            current=current,
            floor=kept,
            want=kept,
            recommendation=kept,
            reasons=reasons,
            until=pool.until,
        )
    spend = observations.spend.get(tenant_name)
    forecast = spend.forecast if spend is not None else None
    share = config.budget_share[name]
    if forecast is None:
        return _unforecast(pool, tenant, spend, share, observations, reasons)
    return _pace(pool, tenant, spend, forecast, share, observations, reasons)


def _unforecast(
    pool: Pool,
    tenant: TenantConfig,
    spend: SpendRead | None,
    share: float,
    observations: Observations,
    reasons: list[Reason],
) -> Paced:
    """No forecast yet: no growth; but a pool at zero with tasks waiting keeps one replica,
    or they would be stranded. The landing holds all the same: the tasks in flight when the
    budget runs out must fit in what is left whether or not a forecast is read."""
    tenant_name = pool.config.tenant
    budget = tenant.daily_token_budget
    used = observations.tokens_today[tenant_name]
    assert budget is not None
    want = pool.want
    cap = max(_no_growth(pool), pool.floor)
    spent = observations.replica_seconds_today.get(tenant_name, 0.0)
    price = prices(pool.config, pool.obs, spend, spent, used)
    landing = paid_replicas(budget - used, share, price, pool.obs.ack_pending)
    if landing is not None and landing < min(want, cap):
        reasons.append(_landed(budget - used, price, pool.obs.ack_pending, want, landing))
        return Paced(want=landing, paced=landing)
    if want > cap:
        note = stale_note(observations, tenant_name)
        args = (tenant_name, used, budget, note, tenant.warn_at, cap, want, cap)
        reasons.append(Reason(rule=WARNING, template=UNKNOWN_WORDS, args=args))
        return Paced(want=cap, paced=landing)
    return Paced(want=want, paced=landing)


def _landed(left: int, price: Prices, in_flight: int, want: int, landing: int) -> Reason:
    """The landing's reason: what is left, what the tasks in flight will spend of it, and the
    replicas the rest pays for."""
    flying = (
        f", less {round(in_flight * price.each):,} for {in_flight} in flight," if in_flight else ""
    )
    args = (left, flying, landing, round(price.rounds), price.round_count, want, landing)
    return Reason(rule=WARNING, template=LANDING_WORDS, args=args)


def _pace(
    pool: Pool,
    tenant: TenantConfig,
    spend: SpendRead | None,
    forecast: Forecast,
    share: float,
    observations: Observations,
    reasons: list[Reason],
) -> Paced:
    """The forecast against what is left: not paced if this pool's share of what is left
    covers its share of the forecast and its own queue. Else the forecast gets its fraction of
    what is left, spent along it: the replicas that spend that fraction of its rate now; and
    what is left beyond the whole forecast serves the tasks waiting now. Either way no more
    replicas than the landing allows."""
    tenant_name = pool.config.tenant
    budget = tenant.daily_token_budget
    used = observations.tokens_today[tenant_name]
    assert budget is not None
    left = budget - used
    obs, want = pool.obs, pool.want
    lag = obs.pending + obs.ack_pending
    spent = observations.replica_seconds_today.get(tenant_name, 0.0)
    price = prices(pool.config, pool.obs, spend, spent, used)
    queued = lag * price.each
    mine, coming = left * share, forecast.tokens * share
    note = stale_note(observations, tenant_name)
    told = (
        tenant_name,
        used,
        budget,
        note,
        round(forecast.tokens),
        tenant.clock.label,
        forecast_source(forecast),
        waiting_note(lag, queued),
        left,
    )
    landing = paid_replicas(left, share, price, obs.ack_pending)
    if mine >= coming + queued:
        reasons.append(Reason(rule=WARNING, template=FITS_WORDS, args=told))
        return _not_paced(pool, price, left, landing, reasons)
    fits = mine / (coming + queued)
    pays = fits * forecast.rate * share
    cap, waiting = _pace_cap(pool, price, fits, pays, mine - coming, landing)
    keeps = cap
    if cap < 1 and (landing is None or landing >= 1):
        one = one_replica(pool.obs, pool.current, tenant, spend, price, used, bool(forecast.days))
        if one is not None:
            # An idle replica spends no tokens, and the next task would be given one anyway:
            # the time rules may keep it for that task rather than have it wait a cold start.
            keeps = 1
            if lag > 0:
                cap = 1
                waiting += one
    if want > cap:
        args = (*told, fits, round(pays * 3600), waiting, cap, want, cap)
        reasons.append(Reason(rule=WARNING, template=PACE_WORDS, args=args))
        want = cap
    return Paced(want=want, paced=keeps)


def _not_paced(
    pool: Pool, price: Prices, left: int, landing: int | None, reasons: list[Reason]
) -> Paced:
    """A pool whose share of what is left covers its share of the forecast and its queue:
    not paced, but no more replicas than the landing pays for."""
    want = pool.want
    if landing is not None and want > landing:
        reasons.append(_landed(left, price, pool.obs.ack_pending, want, landing))
        return Paced(want=landing, paced=landing)
    grow = _no_growth(pool)
    if landing is None and want > grow:
        # Nothing prices a task yet, so the queue's tokens counted as none: whether it fits is
        # not known, and a backlog met at a reset would start more tasks than what is left
        # pays for. No growth, as with no forecast.
        reasons.append(Reason(rule=WARNING, template=UNPRICED_WORDS, args=(grow, want, grow)))
        return Paced(want=grow, paced=None)
    return Paced(want=want, paced=landing)  # (no time rule holds more than the landing either)


def _pace_cap(
    pool: Pool,
    price: Prices,
    fits: float,
    pays: float,
    spare: float,
    landing: int | None,
) -> tuple[int, str]:
    """The replicas a pace pays for: those that spend `pays` tokens a second now, and for the
    tasks waiting a replica for each three rounds of tasks that the `spare` beyond the whole
    forecast pays; at most the landing. And what the reason adds for the tasks waiting."""
    want, lag = pool.want, pool.obs.pending + pool.obs.ack_pending
    if price.busy:
        paid = pays / price.busy
        cap = math.floor(paid + 1e-9)
        if cap >= 1 and pool.current > cap:
            # Between two whole replicas, either will do: the pool keeps the one nearer to
            # what it runs now. Rounded down alone, the pace would flip with every task that
            # moves the pool's mean task time across the edge, each flip a pod started and
            # stopped before it is up; the pace's next reading counts what the part of a
            # replica above the pace spends.
            cap = min(pool.current, math.ceil(paid - 1e-9))
    else:  # nothing to price a replica by (as at a reset, nothing spent yet today): the
        # same share of the demand, and no growth, as with no forecast, since that share of
        # a backlog would start more tasks than what is left may pay for
        share = math.floor(min(want, pool.config.max_replicas) * fits + 1e-9)
        cap = min(share, _no_growth(pool))
    waiting = ""
    if lag > 0 and spare > 0:
        more = math.floor(spare / price.rounds + 1e-9) if price.rounds else want
        if price.rounds and cap + more > pool.current:
            # Growing takes one round more than it pays: the spare falls by a task's tokens at
            # each count and climbs back as the forecast runs down, and at the edge of a round
            # a pool would start a pod and let it go at every count.
            more = max(pool.current - cap, math.floor(spare / price.rounds - 1 + 1e-9), 0)
        cap += more
        waiting = f" + {more} for the tasks waiting from the {round(spare):,} beyond it"
    if landing is not None and cap > landing:
        cap = landing
    return cap, waiting


def _no_growth(pool: Pool) -> int:
    """The most a pool keeps while nothing prices its tasks: what it has, and one replica
    at zero with tasks waiting (they would be stranded)."""
    return max(pool.current, 1 if pool.obs.pending + pool.obs.ack_pending > 0 else 0)
