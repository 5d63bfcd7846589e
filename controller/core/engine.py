"""The reconcile engine: readings in, decisions out. No I/O and no clock (`now` is passed in);
the live loop (controller.runtime.loop) and the backtest (controller.simulate.shell) are thin
shells around this one class.

A shell tells the engine what it read: a pool's observation (`read`), a tenant's tokens
(`tokens`), why a pool cannot be seen (`unobserved`), what operators said (`overrides`). The
engine counts each tenant's replica-seconds today from the replicas read (the budget's pace),
so both shells count them alike. Then `step(now)` claims again only the pools whose decision can
have changed, shares the ceilings, and returns those pools; `decision(i)` says what each one
gets, and why. The shell acts, and tells the engine what it did (`scaled`) or could not do
(`retry`: acted on at the next step, not claimed again, as nothing it read has moved).

Deciding only what can change. Running the policy over every pool at every tick costs a few
µs a pool: 20,000 pools are most of a tick's budget, and a day of 1 s ticks over 100 pools is
nine million claims. But a pool's claim (controller.core.policy.claim) changes only when

- its reading has a new footprint (controller.core.demand.footprint): the numbers; with
  `exact_reasons` (the live loop, whose reasons an operator reads) any new reading. Step 2
  (the demand, controller.core.demand.demanded) is worked out once a reading, when it is
  read, for both the footprint and every claim of that reading;
- its tenant's budget rule changes (controller.core.budget.budget_rule: with the tenant's
  tokens, or with what its pools may have in flight, `TenantTokens.flight_moved`), or, past
  warn_at (the pace), its tokens or the pool's reading move, or the pace reads the tenant's
  forecast and replica-seconds again: once a minute, at the first step in it
  (controller.core.pace_reads). Each budgeted tenant's spend is sampled at every step
  (controller.core.spend_samples, at the cost of the tenants that moved), so its forecast is
  what `decide` would read from the same samples;
- under a hard cap, none of its tasks has reported yet, and its tenant's tokens, its tokens a
  task or its other pools' prices move (controller.core.pool_prices: what its cap reads);
- a time rule may let go (`Claim.until`: a cooldown ends, a pin expires, an entry that bound a
  window leaves it);
- what operators said about it changes.

The shared ceilings are shared the same way (controller.core.sharing): `allocate` runs only
while one is short, and only over the groups of pools with a claim made again.

History is kept the same way. A pool not claimed again would have recorded the same
recommendation at every step; the windows' monotonic deques reduce such a run to its last
entry, so that entry is written when the pool is next claimed, before the policy reads it.
tests/controller/simulate/test_skipping.py checks the engine against `decide` over every pool
at every tick with every recommendation recorded (the same scale steps at the same instants);
tests/controller/runtime/test_one_engine.py checks that the live loop, fed the backtest's
readings, decides as the backtest did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from controller.core.config import Config
from controller.core.demand import demanded
from controller.core.held_claims import controller_paused
from controller.core.history import History
from controller.core.history_writer import HistoryWriter
from controller.core.model import (
    Observations,
    Overrides,
    PoolObservation,
    ScaleDecision,
)
from controller.core.pace_reads import PaceReads
from controller.core.policy import NO_OVERRIDES, claim
from controller.core.pool_prices import PoolPrices
from controller.core.sharing import SharedCeilings
from controller.core.spend import SpendBook
from controller.core.tenant_tokens import TenantTokens
from controller.core.timers import SLACK, Timers
from controller.core.tracked import TrackedPool

EMPTY: Mapping[str, int] = {}


class Engine:
    def __init__(self, config: Config, *, exact_reasons: bool = False) -> None:
        self.config = config
        self.history = History(config)
        self.writer = HistoryWriter(self.history)
        """Writes the history lazily (controller.core.history_writer)."""
        self.exact_reasons = exact_reasons
        """Claim again on any new reading, not only a new footprint: the reasons then quote
        the latest figures (the live loop); the numbers are the same either way."""
        self.names = list(config.pools)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.pools = [
            TrackedPool(name, pool, config.target_wait[name]) for name, pool in config.pools.items()
        ]
        """One record per pool, in config order: a pool's index is its key in the engine."""
        self.tenant_pools: dict[str, list[int]] = {}
        for i, pool in enumerate(self.pools):
            self.tenant_pools.setdefault(pool.config.tenant, []).append(i)
        self.prices = PoolPrices(config)
        """What the budget reads of each pool's price: the tasks in flight, the unpriced."""
        self._readings: dict[str, PoolObservation] = {}
        self.tenant_tokens = TenantTokens(
            config, exact_reasons=exact_reasons, in_flight=self.prices.in_flight
        )
        """Each tenant's tokens, tasks done and budget rule, as told."""
        self.pace = PaceReads(config, self.tenant_tokens)
        """What the budget's pace reads of each tenant: replica-seconds, spend, forecast."""
        self._unobserved: dict[str, str] = {}
        self._unscaled_replicas: dict[str, int] = {}
        self.observations = Observations(
            pools=self._readings,
            tokens_today=self.tenant_tokens.used,
            tasks_today=self.tenant_tokens.tasks_today,
            task_tokens=self.tenant_tokens.task_tokens,
            stale_tokens=self.tenant_tokens.stale,
            unobserved=self._unobserved,
            unscaled_replicas=self._unscaled_replicas,
            replica_seconds_today=self.pace.spent,
            spend=self.pace.reads,
            in_flight=self.prices.in_flight,
        )
        """What the policy reads: kept up to date in place, never rebuilt."""
        self.current_overrides: Overrides = NO_OVERRIDES
        self.started = False
        """Whether the first step, which claims every pool, has run."""
        self.ceilings = SharedCeilings(config, self.pools)
        """What the claims ask of the shared ceilings, and the grants while one is short."""
        self.releases = Timers(len(self.pools))
        """When each pool's claim may change by time alone (Claim.until)."""
        self.dirty: set[int] = set()
        """Pools to claim again at the next step."""
        self.unacted: set[int] = set()
        """Pools whose change was not made: acted on again at the next step."""
        self.previous = -math.inf
        """When the last step ran."""
        self._told = False
        """Whether anything new was read or told since the last step (see `calm_until`)."""
        self.steps = 0
        self.claimed = 0
        """Steps, and pool claims made over them."""

    @property
    def spend(self) -> SpendBook:
        """Each budgeted tenant's spend, every sample counted (what a successor takes over)."""
        return self.pace.settle(self.steps, self.previous)

    @property
    def readings(self) -> list[PoolObservation | None]:
        """Each pool's reading, in config order."""
        return [pool.reading for pool in self.pools]

    # --- what the shell read ------------------------------------------------------------------

    def read(self, i: int, reading: PoolObservation | None) -> None:
        """Pool i as the sources see it now (None: not seen at all, so never scaled)."""
        pool = self.pools[i]
        if reading == pool.reading:
            return
        self._told = True
        before, pool.reading = pool.reading, reading
        tenant = pool.config.tenant
        replicas = 0 if reading is None else reading.replicas
        if replicas != pool.replicas:
            self.pace.replicas_moved(tenant, replicas - pool.replicas)
            pool.replicas = replicas
        lag = 0 if reading is None or reading.stale is not None else reading.lag
        lag_moved = lag != pool.lag
        if reading is not None and reading.stale is None:
            rate_moved = before is None or before.arrival_rate != reading.arrival_rate
            if lag_moved or rate_moved:  # (the keep-alive counts them)
                self.writer.counted.add(i)
        if lag_moved:
            self.pace.lag_moved(tenant, lag - pool.lag)
            pool.lag = lag
        if reading is None:
            self._readings.pop(pool.name, None)
        else:
            self._readings[pool.name] = reading
        if self.prices.read(i, reading):
            if self.tenant_tokens.flight_moved(tenant):
                self.dirty.update(self.tenant_pools[tenant])
            self._reprice(tenant)
        if reading is None:
            pool.footprint = pool.demanded = None
            self.dirty.add(i)
            return
        made = pool.demanded = demanded(pool.config, reading, pool.wait)
        # A pace reads more of a reading than its footprint (the lag's tokens, the tasks in
        # flight, the task time): a paced pool is claimed again on any new reading. So is a
        # pool whose tokens a task became known (a hard cap holds it until they are).
        if (
            made.footprint != pool.footprint
            or self.exact_reasons
            or tenant in self.tenant_tokens.paced
            or (before is None or before.task_tokens is None) != (reading.task_tokens is None)
        ):
            pool.footprint = made.footprint
            self.dirty.add(i)

    def _reprice(self, tenant: str) -> None:
        """What the tenant's unpriced pools' cap reads moved: claim them again."""
        if self.prices.unpriced:
            self.dirty.update(self.prices.of(tenant))

    def tokens(
        self, tenant: str, used: int | None, stale: str | None = None, tasks: int | None = None
    ) -> None:
        """A tenant's tokens today (None: unknown), why they are only the last known, and the
        tasks its workers reported done today (None: unknown)."""
        told = self.tenant_tokens.tell(tenant, used, stale, tasks)
        if told.new:
            self._told = True
            self.pace.told(tenant)
            self._reprice(tenant)
        if told.reclaim or (
            told.new and tenant in self.tenant_tokens.paced
        ):  # a pace reads the tokens
            self.dirty.update(self.tenant_pools.get(tenant, ()))

    @property
    def tasks_today(self) -> dict[str, int]:
        """Per tenant, the tasks its workers reported done today, where known."""
        return self.tenant_tokens.tasks_today

    def unobserved(self, why: Mapping[str, str], replicas: Mapping[str, int] = EMPTY) -> None:
        """Why pools are not observed (a Deployment gone or forbidden), or not scaled (another
        autoscaler scales it, a refused scale); `replicas`: those read of them all the same,
        which they keep."""
        if why == self._unobserved and replicas == self._unscaled_replicas:
            return
        for name in set(why) | set(self._unobserved):
            if name not in self.index:
                continue
            was = (self._unobserved.get(name), self._unscaled_replicas.get(name))
            if (why.get(name), replicas.get(name)) != was:
                self.dirty.add(self.index[name])
        self._unobserved.clear()
        self._unobserved.update(why)
        self._unscaled_replicas.clear()
        self._unscaled_replicas.update(replicas)

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
        self.dirty.update(range(len(self.pools)))

    def retry(self, i: int) -> None:
        """Pool i's change was not made (no budget for the call, a call in flight, one that
        failed): it is returned again at the next step, its decision as it stands."""
        self.unacted.add(i)

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
        self._told = False
        if now < self.previous:
            self._clock_back(now)
        paced = self.pace.step(self.steps, now, self.previous)
        for tenant in paced.repriced:
            self._reprice(tenant)
        self.writer.count_arrivals(self.pools, now)
        if not self.started:
            self.started = True
            self.dirty = set()
            return self._claim_again(now, set(range(len(self.pools))))
        changed, self.dirty = self.dirty, set()
        if paced.read or self.exact_reasons:  # (a paced pool's reasons quote its time rules')
            for tenant in self.tenant_tokens.paced:
                changed.update(self.tenant_pools.get(tenant, ()))
        changed.update(self.releases.due(now))
        unacted, self.unacted = self.unacted, set()
        if not changed:
            self.previous = now
            return sorted(unacted)
        acted = self._claim_again(now, changed)
        return sorted(unacted.union(acted)) if unacted else acted

    def _clock_back(self, now: float) -> None:
        """The wall clock stepped back (NTP correcting a fast clock): a window's entry from
        after `now` would hold its pool for as long as the step (a scale-up behind an up
        window, for an hour), so the time rules read it as of `now`, and every pool is
        claimed again (its `until` was set on the clock before the step)."""
        self.history.clock_back(now)
        self.pace.clock_back(self.steps, self.previous, now)
        for pool in self.pools:
            if pool.recorded > now:
                pool.recorded = now
        self.previous = now
        self.touch_all()

    # --- quiet steps (the backtest's shell skips through quiet time) ---------------------------

    def calm_until(self) -> float:
        """Until when (exclusive) a step with nothing new read or told does nothing but count
        itself (`skip`): no pool to claim again, no budget paced (its pools are claimed at
        every step), no time rule letting go, no budget day ending, no gap in the spend's
        samples long enough to count as one. -inf while the next step must run in full."""
        if self._told or self.dirty or self.unacted or not self.started:
            return -math.inf
        calm = self.pace.calm_until(self.previous)
        due = self.releases.earliest() - SLACK
        return due if due < calm else calm

    def skip(self, now: float) -> None:
        """The step at `now` (before `calm_until()`), in O(1): it would claim nothing and
        sample each budgeted tenant's spend as before: those samples are owed, and counted in one
        go later (controller.core.spend_samples)."""
        if not now < self.calm_until():
            raise ValueError(f"a step at {now} is not quiet: it must run in full")
        self.steps += 1
        self.previous = now

    def _claim_again(self, now: float, changed: set[int]) -> list[int]:
        """Claim the `changed` pools anew, then share the ceilings (`_settle`). A pool's
        recommendation stood unrecorded since it was last claimed: it is recorded as of the
        last step first, as recording it at every step would have left it."""
        previous, history, overrides = self.previous, self.history, self.current_overrides
        for i in changed:
            pool = self.pools[i]
            if pool.claim is not None and pool.recorded < previous:
                recommendation = pool.claim.recommendation
                if pool.lagging is not None:
                    if self.writer.record(pool, recommendation, pool.lagging, previous, read=False):
                        self.dirty.add(i)  # its keep-alive learned a gap: what it holds may differ
                elif pool.unseen:  # stale until the last step: busy until then
                    self.writer.unseen(pool, recommendation, previous)
            made = pool.claim = claim(
                pool.name,
                pool.config,
                self.config,
                self.observations,
                overrides,
                history,
                now,
                pool.demanded,
            )
            pool.desired = self.ceilings.demand.set(made)
            mark = pool.footprint  # whether the reading had lag, as its footprint has it
            pool.lagging = None if mark is None or mark.stale else mark.lagging
            pool.unseen = mark is not None and mark.stale
        self.claimed += len(changed)
        return self._settle(now, changed)

    def _settle(self, now: float, changed: set[int]) -> list[int]:
        ceilings = self.ceilings
        fits = ceilings.fit()
        acted = sorted(changed) if fits else sorted(changed.union(ceilings.share(changed)))
        pools, writer = self.pools, self.writer
        for i in acted:
            pools[i].made = None
        for i in changed:
            pool = pools[i]
            claimed = pool.claimed
            if pool.lagging is not None:
                if writer.record(pool, claimed.recommendation, pool.lagging, now):
                    self.dirty.add(i)  # its keep-alive learned a gap: what it holds may differ
                pool.recorded = now
            elif pool.unseen:
                writer.unseen(pool, claimed.recommendation, now)
                pool.recorded = now
            self.releases.set(i, claimed.until)
        self.previous = now
        return acted

    # --- what was decided ---------------------------------------------------------------------

    def decision(self, i: int) -> ScaleDecision:
        """Pool i's decision as of the last step, with every reason."""
        pool = self.pools[i]
        made = pool.made
        if made is None:
            made = pool.claimed.decision(pool.desired)
            if self.current_overrides.paused:
                made = controller_paused(made)
            pool.made = made
        return made

    def decisions(self) -> list[ScaleDecision]:
        """Every pool's decision, in config order."""
        return [self.decision(i) for i in range(len(self.pools))]


def _moved(now: Mapping[str, object], before: Mapping[str, object]) -> set[str]:
    """The keys whose value differs between two mappings (added, removed or changed)."""
    return {key for key in now.keys() | before.keys() if now.get(key) != before.get(key)}
