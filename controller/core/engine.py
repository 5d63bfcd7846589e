"""The reconcile engine: readings in, decisions out. No I/O and no clock (`now` is passed in);
the live loop (controller.runtime.loop) and the backtest (controller.simulate.shell) are thin
shells around this one class.

A shell tells the engine what it read: a pool's observation (`read`), a tenant's tokens
(`tokens`), why a pool cannot be seen (`unobserved`), what operators said (`overrides`). The
engine counts each tenant's replica-seconds today from the replicas read (the budget's pace),
so both shells count them alike. Then `step(now)` claims again only the pools whose decision can
have changed, shares the ceilings, and returns those pools; `decision(i)` says what each one
gets, and why. The shell acts, and tells the engine what it did (`scaled`) or could not do
(`retry`).

Deciding only what can change. Running the policy over every pool at every tick costs a few
µs a pool: 20,000 pools are most of a tick's budget, and a day of 1 s ticks over 100 pools is
nine million claims. But a pool's claim (controller.core.policy.claim) changes only when

- its reading has a new footprint (controller.core.policy.footprint): the numbers; with
  `exact_reasons` (the live loop, whose reasons an operator reads) any new reading. Step 2
  (the demand, controller.core.policy.demanded) is worked out once a reading, when it is
  read, for both the footprint and every claim of that reading;
- its tenant's budget rule changes (controller.core.budget.budget_rule), or, past warn_at,
  its tokens, replica-seconds, forecast or the clock move (its pools are claimed at every
  step). Each budgeted tenant's spend is sampled at every step (controller.core.spend), so its
  forecast is what `decide` would read from the same samples;
- a time rule may let go (`Claim.until`: a cooldown ends, a pin expires, an entry that bound a
  window leaves it);
- what operators said about it changes.

And while every shared ceiling has room for all the claims, `allocate` grants each claim what
it would get alone (controller.core.allocation.Demand). While one is short, it runs over the
pools that draw on a short ceiling, in groups that share none (they do not compete), and only
for a group with a claim made again that bids differently (`_bid`): the grants are written
into the claims, so nothing is copied.

History is kept the same way. A pool not claimed again would have recorded the same
recommendation at every step; the windows' monotonic deques reduce such a run to its last
entry, so that entry is written when the pool is next claimed, before the policy reads it.
tests/controller/simulate/test_skipping.py checks the engine against `decide` over every pool
at every tick with every recommendation recorded (the same scale steps at the same instants);
tests/controller/runtime/test_one_engine.py checks that the live loop, fed the backtest's
readings, decides as the backtest did.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from controller.core.accounting import ReplicaSeconds
from controller.core.allocation import Claim, Demand, allocate_short
from controller.core.budget import WARNING, budget_rule
from controller.core.config import Config, PoolConfig
from controller.core.demand import Demanded, Footprint, demanded
from controller.core.history import History, PoolHistory
from controller.core.model import (
    Observations,
    Overrides,
    PoolObservation,
    Reason,
    ScaleDecision,
)
from controller.core.policy import NO_OVERRIDES, claim, controller_paused
from controller.core.spend import SpendBook

_SLACK = 1e-6
"""A time rule due within this long of a step counts as due at it (float noise)."""


class Engine:
    def __init__(self, config: Config, *, exact_reasons: bool = False) -> None:
        self.config = config
        self.history = History(config)
        self.exact_reasons = exact_reasons
        """Claim again on any new reading, not only a new footprint: the reasons then quote
        the latest figures (the live loop); the numbers are the same either way."""
        self.names = list(config.pools)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.pool_configs: list[PoolConfig] = list(config.pools.values())
        self.waits = [config.target_wait[name] for name in self.names]
        n = len(self.names)
        self.tenant_pools: dict[str, list[int]] = {}
        for i, pool in enumerate(self.pool_configs):
            self.tenant_pools.setdefault(pool.tenant, []).append(i)
        self.replica_seconds = ReplicaSeconds(
            {name: tenant.clock for name, tenant in config.tenants.items()}
        )
        """Each tenant's replicas over its budget day, as read (the budget's pace)."""
        self.spend = SpendBook(config)
        """Each budgeted tenant's spend, sampled at every step: its forecast (the pace)."""
        self._replicas = [0] * n
        self._tenant_replicas = dict.fromkeys(config.tenants, 0)
        self._lags = [0] * n
        self._tenant_lag = dict.fromkeys(config.tenants, 0)
        """Tasks waiting per pool and per tenant, as read (stale or unseen: none): with each
        tenant's tasks done, what its spend forecast learns it asks for."""
        self.tasks_today: dict[str, int] = {}
        """Per tenant, the tasks its workers reported done today, where known."""
        self._moved: set[str] = set()
        """Tenants whose replicas changed since the last step."""
        self.readings: list[PoolObservation | None] = [None] * n
        self.prints: list[Footprint | None] = [None] * n
        self.demands: list[Demanded | None] = [None] * n
        """Step 2 of each reading, worked out once when read: every claim of it reuses it."""
        self._pools: dict[str, PoolObservation] = {}
        self._tokens: dict[str, int] = {}
        self._stale_tokens: dict[str, str] = {}
        self._unobserved: dict[str, str] = {}
        self._spent: dict[str, float] = {}
        self.observations = Observations(
            self._pools,
            self._tokens,
            self._stale_tokens,
            self._unobserved,
            self._spent,
            self.spend.tenants,
        )
        """What the policy reads: kept up to date in place, never rebuilt."""
        self.current_overrides: Overrides = NO_OVERRIDES
        self.rules: dict[str, str | None] = {}
        """Per budgeted tenant: its budget rule as of its last tokens."""
        self.paced: set[str] = set()
        """Tenants past warn_at with the pace on: claimed again at every step."""
        self.claims: list[Claim] = []
        self.desired: list[int] = [0] * n
        self.outcome: dict[int, tuple[int, tuple[Reason, ...]]] = {}
        """While a shared ceiling is short, per pool that draws on one: what `allocate` granted
        and the reasons it added (written into the pool's claim, after `base` of its own)."""
        self.base = [0] * n
        self.bids: dict[int, Bid] = {}
        """What `allocate` read of each such claim when it last ran."""
        self.busy: list[bool | None] = [None] * n
        """Per pool: whether the reading its claim used had lag (None: stale, not recorded)."""
        self.demand = Demand(config)
        self.members: list[list[int]] = [[] for _ in self.demand.shape.ceilings]
        """Per shared ceiling, the pools that draw on it."""
        for i, name in enumerate(self.names):
            for k in self.demand.shape.drawn[name]:
                self.members[k].append(i)
        self.short_ceilings: tuple[int, ...] = ()
        """The shared ceilings short at the last step."""
        self.groups: list[list[int]] = []
        """The pools that draw on a short ceiling, split into groups that share none: each is
        allocated on its own, and again only when one of its claims changed."""
        self.group_of: dict[int, int] = {}
        self.recorded = [-math.inf] * n
        """When each pool's recommendation was last written to the history."""
        self.entries: list[PoolHistory | None] = [None] * n
        self.release_at = [math.inf] * n
        """Per pool: when its claim may change by time alone (Claim.until)."""
        self.releases: list[tuple[float, int]] = []
        """Heap of (release_at, pool); an entry no longer in release_at is stale."""
        self.dirty: set[int] = set()
        """Pools to claim again at the next step."""
        self.made: list[ScaleDecision | None] = [None] * n
        """Each pool's decision as last asked for (`decision`), until its claim changes."""
        self.previous = -math.inf
        """When the last step ran."""
        self.steps = 0
        self.claimed = 0
        """Steps, and pool claims made over them."""

    # --- what the shell read ------------------------------------------------------------------

    def read(self, i: int, reading: PoolObservation | None) -> None:
        """Pool i as the sources see it now (None: not seen at all, so never scaled)."""
        if reading == self.readings[i]:
            return
        self.readings[i] = reading
        replicas = 0 if reading is None else reading.replicas
        if replicas != self._replicas[i]:
            tenant = self.pool_configs[i].tenant
            self._tenant_replicas[tenant] += replicas - self._replicas[i]
            self._replicas[i] = replicas
            self._moved.add(tenant)
        lag = 0 if reading is None or reading.stale is not None else reading.lag
        if lag != self._lags[i]:
            self._tenant_lag[self.pool_configs[i].tenant] += lag - self._lags[i]
            self._lags[i] = lag
        if reading is None:
            self._pools.pop(self.names[i], None)
            self.prints[i] = self.demands[i] = None
            self.dirty.add(i)
            return
        self._pools[self.names[i]] = reading
        made = self.demands[i] = demanded(self.pool_configs[i], reading, self.waits[i])
        mark = made.footprint
        if mark != self.prints[i] or self.exact_reasons:
            self.prints[i] = mark
            self.dirty.add(i)

    def tokens(
        self, tenant: str, used: int | None, stale: str | None = None, tasks: int | None = None
    ) -> None:
        """A tenant's tokens today (None: unknown), why they are only the last known, and the
        tasks its workers reported done today (None: unknown)."""
        if tasks is None:
            self.tasks_today.pop(tenant, None)
        else:
            self.tasks_today[tenant] = tasks
        if used is None:
            if self._tokens.pop(tenant, None) is not None:
                self._budget_moved(tenant, None)
            return
        before = self._tokens.get(tenant)
        was_stale = self._stale_tokens.get(tenant)
        if before == used and was_stale == stale:
            return
        config = self.config.tenants[tenant]
        self._tokens[tenant] = used
        if stale is None:
            self._stale_tokens.pop(tenant, None)
        else:
            self._stale_tokens[tenant] = stale
        if config.daily_token_budget is None:
            return
        rule = budget_rule(config, used)
        moved = self.rules.get(tenant, "") != rule
        if moved or (rule is not None and (self.exact_reasons or was_stale != stale)):
            self._budget_moved(tenant, rule)

    def _budget_moved(self, tenant: str, rule: str | None) -> None:
        self.rules[tenant] = rule
        if rule == WARNING:
            self.paced.add(tenant)
        else:
            self.paced.discard(tenant)
        self.dirty.update(self.tenant_pools.get(tenant, ()))

    def unobserved(self, why: Mapping[str, str]) -> None:
        """Why pools are not seen at all (a Deployment gone or forbidden)."""
        if why == self._unobserved:
            return
        for name in set(why) | set(self._unobserved):
            if why.get(name) != self._unobserved.get(name) and name in self.index:
                self.dirty.add(self.index[name])
        self._unobserved.clear()
        self._unobserved.update(why)

    def overrides(self, overrides: Overrides) -> None:
        """What operators said: the pools it changes for are claimed again."""
        was = self.current_overrides
        if overrides == was:
            return
        self.current_overrides = overrides
        if overrides.paused != was.paused or overrides.dry_run != was.dry_run:
            self.touch_all()  # every pool's decision reads differently
            return
        names = _moved(overrides.pins, was.pins) | _moved(overrides.paused_pools, was.paused_pools)
        index = self.index
        self.dirty.update(index[name] for name in names if name in index)
        for tenant in overrides.paused_tenants ^ was.paused_tenants:
            self.dirty.update(self.tenant_pools.get(tenant, ()))

    def touch_all(self) -> None:
        """Claim every pool again at the next step (after a change the engine cannot see:
        leading again, unpaused)."""
        self.dirty.update(range(len(self.names)))

    def retry(self, i: int) -> None:
        """Pool i's change was not made (no budget for the call, a call in flight, one that
        failed): decide it again at the next step."""
        self.dirty.add(i)

    def scaled(self, i: int, now: float, old: int, new: int) -> None:
        """A change was made: the rate policies count it, so the pool is claimed again (its
        reading may not show the new replicas yet)."""
        self.history.record_scale(self.names[i], now, old, new)
        self.dirty.add(i)

    # --- the step -----------------------------------------------------------------------------

    def step(self, now: float) -> list[int]:
        """Claim again what can have changed, share the ceilings; the pools whose decision
        may have changed, in pool order."""
        self.steps += 1
        for tenant in self._moved:
            self.replica_seconds.set(tenant, self._tenant_replicas[tenant], now)
        self._moved.clear()
        if self.paced or not self.claims:
            self._spent.update(self.replica_seconds.today(now))
        sample, tokens, stale = self.spend.observe, self._tokens, self._stale_tokens
        tasks, lags = self.tasks_today, self._tenant_lag
        for tenant in self.spend.tenants:
            used = tokens.get(tenant)
            if used is not None:
                sample(
                    tenant, used, now, tasks.get(tenant), lags[tenant], learn=tenant not in stale
                )
        if not self.claims:
            return self._first(now)
        changed = self.dirty
        self.dirty = set()
        for tenant in self.paced:
            changed.update(self.tenant_pools.get(tenant, ()))
        releases, release_at = self.releases, self.release_at
        while releases and releases[0][0] <= now + _SLACK:
            due, i = heapq.heappop(releases)
            if due == release_at[i]:
                release_at[i] = math.inf
                changed.add(i)
        if not changed:
            self.previous = now
            return []
        claims, desired, busy, recorded = self.claims, self.desired, self.busy, self.recorded
        record, demand, previous = self._record, self.demand, self.previous
        config, observations, history = self.config, self.observations, self.history
        overrides, names, configs, demands, prints = (
            self.current_overrides,
            self.names,
            self.pool_configs,
            self.demands,
            self.prints,
        )
        for i in changed:
            lag = busy[i]
            if lag is not None and recorded[i] < previous:
                record(i, claims[i].recommendation, lag, previous)
            made = claims[i] = claim(
                names[i], configs[i], config, observations, overrides, history, now, demands[i]
            )
            desired[i] = demand.set(made)
            mark = prints[i]  # _had_lag(the reading), as its footprint has it
            busy[i] = None if mark is None or mark.stale else mark.lagging
        self.claimed += len(changed)
        return self._settle(now, changed)

    def _first(self, now: float) -> list[int]:
        everything = range(len(self.names))
        self.dirty = set()
        config, observations, overrides = self.config, self.observations, self.current_overrides
        self.claims = [
            claim(name, pool, config, observations, overrides, self.history, now, demand)
            for name, pool, demand in zip(self.names, self.pool_configs, self.demands, strict=True)
        ]
        self.claimed += len(self.claims)
        self.desired = [self.demand.set(c) for c in self.claims]
        self.busy = [_had_lag(r) for r in self.readings]
        return self._settle(now, set(everything))

    def _settle(self, now: float, changed: set[int]) -> list[int]:
        fits = self.demand.fits() and not self.short_ceilings
        acted = sorted(changed) if fits else sorted(changed.union(self._share(changed)))
        made = self.made
        for i in acted:
            made[i] = None
        claims, busy, recorded = self.claims, self.busy, self.recorded
        record, releases, release_at = self._record, self.releases, self.release_at
        for i in changed:
            claimed = claims[i]
            lag = busy[i]
            if lag is not None:
                record(i, claimed.recommendation, lag, now)
                recorded[i] = now
            due = claimed.until
            if due != release_at[i]:
                release_at[i] = due
                if due < math.inf:
                    heapq.heappush(releases, (due, i))
        self.previous = now
        return acted

    def _share(self, changed: set[int]) -> Iterable[int]:
        """Grants when some shared ceiling is (or was) short: allocate() over the claims that
        draw on a short ceiling, one group at a time (pools that share no short ceiling do not
        compete), and only for the groups with a claim made again. The others get what they
        ask alone: the ceilings they draw on have room for every claim at once, and no grant
        exceeds what its claim asks alone. Returns the pools whose grant or reasons moved
        (with the claims made again this step, `_settle` has all that may differ)."""
        claims, demand, desired, outcome = self.claims, self.demand, self.desired, self.outcome
        moved: set[int] = set()
        short = () if demand.fits() else tuple(demand.short())
        group_of = self.group_of
        if short == self.short_ceilings:
            again = {group_of[i] for i in changed if i in group_of}
        else:  # new groups: allocate those not seen before; the pools left out ask alone
            self.short_ceilings = short
            known = set(map(tuple, self.groups))
            self.groups = self._groups(short)
            self.group_of = group_of = {i: g for g, pools in enumerate(self.groups) for i in pools}
            for i in outcome.keys() - group_of.keys():
                del outcome[i], self.bids[i]
                made = claims[i]
                if i not in changed:  # a claim not made again: take back allocate's reasons
                    del made.reasons[self.base[i] :]
                desired[i] = made.alone
                moved.add(i)
            new = {g for g, pools in enumerate(self.groups) if tuple(pools) not in known}
            for g in new:
                self._allocate(self.groups[g], changed, moved, new=True)
            again = {group_of[i] for i in changed if i in group_of} - new
        for g in again:
            self._allocate(self.groups[g], changed, moved)
        return moved

    def _allocate(
        self, group: list[int], changed: set[int], moved: set[int], new: bool = False
    ) -> None:
        """allocate() over one group's claims, in place: each claim made again gets its grant
        and reasons anew, each other one loses those of the last run first. When the group is
        as before and every claim made again bids as before (the other claims are the same),
        the last run's outcome stands without running it."""
        claims, base, outcome, bids = self.claims, self.base, self.outcome, self.bids
        fresh = [i for i in group if i in changed or i not in outcome]
        if not new and all(i in outcome and _bid(claims[i]) == bids[i] for i in fresh):
            for i in fresh:
                made = claims[i]
                base[i] = len(made.reasons)
                made.granted, added = outcome[i]
                made.reasons.extend(added)
                self.desired[i] = made.granted
            return
        run = []
        for i in group:
            made = claims[i]
            if i in changed or i not in outcome:
                base[i] = len(made.reasons)
            else:
                del made.reasons[base[i] :]
            made.granted = made.goal = 0
            if made.current or made.alone:  # else it has nothing and asks nothing: 0, no reason
                run.append(made)
        allocate_short(self.config, run)
        desired = self.desired
        for i in group:
            made = claims[i]
            now = (made.granted, tuple(made.reasons[base[i] :]))
            if outcome.get(i) != now:
                outcome[i] = now
                moved.add(i)
            desired[i] = made.granted
        for i in fresh:
            bids[i] = _bid(claims[i])

    def _groups(self, short: tuple[int, ...]) -> list[list[int]]:
        """The pools that draw on the `short` ceilings, in groups joined by a shared one
        (each group in pool order)."""
        parent = {k: k for k in short}

        def root(k: int) -> int:
            while parent[k] != k:
                parent[k] = k = parent[parent[k]]
            return k

        for i in set().union(*(self.members[k] for k in short)):
            drawn = [k for k in sorted(self.demand.shape.drawn[self.names[i]]) if k in parent]
            for k in drawn[1:]:
                parent[root(k)] = root(drawn[0])
        groups: dict[int, list[int]] = {}
        for k in short:
            groups.setdefault(root(k), []).extend(self.members[k])
        return [sorted(set(group)) for group in groups.values()]

    def _record(self, i: int, recommendation: int, busy: bool, now: float) -> None:
        """History.record_pool, with the pool's entry kept at hand."""
        entry = self.entries[i]
        if entry is None:
            entry = self.entries[i] = self.history.pool(self.names[i], now)
        if entry.recommend(now, recommendation):
            self.dirty.add(i)  # its keep-alive learned a gap: what it holds may differ now
        if busy:
            entry.busy_at = now

    # --- what was decided ---------------------------------------------------------------------

    def decision(self, i: int) -> ScaleDecision:
        """Pool i's decision as of the last step, with every reason."""
        made = self.made[i]
        if made is None:
            made = self.made[i] = self._decide(i)
        return made

    def _decide(self, i: int) -> ScaleDecision:
        made = self.claims[i].decision(self.desired[i])
        return controller_paused(made) if self.current_overrides.paused else made

    def decisions(self) -> list[ScaleDecision]:
        """Every pool's decision, in config order."""
        return [self.decision(i) for i in range(len(self.names))]


class Bid(NamedTuple):
    """What `allocate` reads of a claim (besides its pool's name and config): a claim whose
    bid did not change needs no new pass over the shared ceilings it is under."""

    current: int
    floor: int
    want: int
    held: bool
    busy: int
    steady: int | None
    kept: int


def _bid(claim: Claim) -> Bid:
    return Bid(
        current=claim.current,
        floor=claim.floor,
        want=claim.want,
        held=claim.held,
        busy=claim.busy,
        steady=claim.steady,
        kept=claim.kept,
    )


def _had_lag(reading: PoolObservation | None) -> bool | None:
    """Whether a reading had lag, for the history (None: stale or absent, not recorded)."""
    if reading is None or reading.stale is not None:
        return None
    return reading.pending + reading.ack_pending > 0


def _moved(now: Mapping[str, object], before: Mapping[str, object]) -> set[str]:
    """The keys whose value differs between two mappings (added, removed or changed)."""
    return {key for key in now.keys() | before.keys() if now.get(key) != before.get(key)}
