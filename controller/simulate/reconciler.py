"""agentdash in virtual time: the live loop's bookkeeping (controller.loop.Reconciler) around
the very same policy (controller.policy) and `controller.history.History`, without I/O.

Reading. As the live loop does, it ticks every `controller.interval_seconds` after the
previous tick, and at once when a task reaches a pool whose last decision was 0 replicas. Every
tick reads replicas, ready pods and the mean task time of every pool; a wake-up re-reads the
queues (pending, ack_pending, arrival rate) of the woken pools only, a regular tick all of
them. The arrival rate is what controller.jetstream reports: arrivals in the last RATE_WINDOW_S
over that window. Today's tokens per tenant are what controller.usage's ledger keeps, from
finished tasks.

Deciding only what can change. `decide` over every pool at every tick costs a few µs a pool,
and a day of 1 s ticks over 100 pools is nine million of them. But a pool's claim
(`controller.policy.claim`) can change only when its reading changes, when its tenant's budget
rule changes (`controller.policy.budget_rule`), or when a time rule lets go: an entry leaves a
stabilization window or a rate-limit period, or a cooldown ends (`_release`). And while every
shared ceiling has room for all the claims, `allocate` grants each claim what it would get
alone (`controller.allocation.Demand`). So a tick claims only those pools again, and runs
`allocate` over all the claims only when a ceiling is short.

History is kept the same way. A pool that is not claimed again would have recorded the same
recommendation at every tick; the windows' monotonic deques reduce such a run to its last
entry, so that entry is written when the pool is next claimed, before the policy reads it.

`Reconciler(config, skip=False)` calls `decide` for every pool at every tick, exactly as the
live loop does; tests/controller/simulate/test_skipping.py checks both give the same run: the
same scale steps at the same instants, the same waits and cost.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from controller.allocation import Claim, Demand, allocate
from controller.config import Config
from controller.history import History
from controller.model import Observations, PoolObservation, ScaleDecision
from controller.policy import NO_OVERRIDES, budget_rule, claim, decide, settled_until
from controller.simulate.cluster import Cluster, Tenant
from controller.sources import RATE_WINDOW_S

_NOT_READ = "queue not read yet"
_Stats = tuple[int, int, float | None]
"""A pool's queue as last read: pending, ack_pending, arrival rate."""
_Key = tuple[_Stats | None, int, int, float | None]
_HOLDING = frozenset({"budget exhausted", "budget warning", "paused"})
"""Rules of controller.policy that hold a pool back for its tenant's budget or a pause."""
_SLACK = 1e-6
"""A time rule due within this long of a tick counts as due at it (float noise)."""


class Reconciler:
    name = "agentdash"
    gate_budgets = True

    def __init__(self, config: Config, *, skip: bool = True) -> None:
        self.config = config
        self.skip = skip
        self.names = list(config.pools)
        self.pool_configs = list(config.pools.values())
        n = len(self.names)
        self.interval = config.controller.interval_seconds
        self.history = History(config)
        self.wakes = bytearray([1]) * n  # the live loop starts with all idle
        self.woken: set[int] = set()
        self.stats: list[_Stats | None] = [None] * n
        self.departed = [0] * n
        """Per pool: arrivals that have left the rate window."""
        self._gone = 0
        """Trace index of the oldest task still inside the rate window."""
        self.keys: list[_Key] = []
        self.readings: list[PoolObservation] = []
        self.tokens: dict[str, int] = {}
        self.observations = Observations({}, self.tokens)
        self.rules: dict[str, str | None] = {}
        self.claims: list[Claim] = []
        self.decisions: list[ScaleDecision] = []
        self.demand = Demand(config)
        self.short = False
        """The last pass needed `allocate`: some shared ceiling was short."""
        self.recorded = [-math.inf] * n
        """When each pool's recommendation was last written to the history."""
        self.releases: list[tuple[float, int, int]] = []
        """Heap of (time a time rule may let go, pool, stamp); stale unless stamp matches."""
        self.stamps = [0] * n
        self.previous = -math.inf
        self.actions: list[tuple[float, str, int, int]] = []
        """(time, pool, from, to) for every change actuated."""
        self.ticks = self.claimed = 0
        """Ticks, and pool claims evaluated over them."""

    def initial(self) -> list[int]:
        return [pool.min_replicas for pool in self.config.pools.values()]

    def wake(self, now: float, pool: int) -> float:
        self.woken.add(pool)
        return now

    def tick(self, now: float, cluster: Cluster) -> float:
        self.ticks += 1
        woken, self.woken = self.woken, set()
        self._depart(now, cluster)
        if not self.skip:
            self._decide_every_pool(now, cluster, woken)
        elif not self.claims:
            self._first(now, cluster, woken)
        else:
            self._decide_what_changed(now, cluster, woken)
        self.previous = now
        return now + self.interval

    # --- reading ------------------------------------------------------------------------

    def _depart(self, now: float, cluster: Cluster) -> None:
        """Count out of the rate window the arrivals that left it; their pools' rates moved."""
        times, pools, departed = cluster.arrival, cluster.task_pool, self.departed
        edge, g, dirty = now - RATE_WINDOW_S, self._gone, cluster.dirty
        while g < len(times) and times[g] <= edge:
            i = pools[g]
            departed[i] += 1
            dirty.add(i)
            g += 1
        self._gone = g
        if now < RATE_WINDOW_S:  # the window is still filling: every rate's span moves
            dirty.update(p.index for p in cluster.pools if p.arrived > departed[p.index])

    def _read_queues(self, now: float, cluster: Cluster, pools: Iterable[int]) -> None:
        span = min(now, RATE_WINDOW_S)
        stats, departed = self.stats, self.departed
        for i in pools:
            p = cluster.pools[i]
            rate = (p.arrived - departed[i]) / span if span > 0 else None
            stats[i] = (len(p.queue), p.running, rate)

    def _key(self, i: int, cluster: Cluster) -> _Key:
        p = cluster.pools[i]
        return (self.stats[i], p.spec, p.ready, p.mean_work)

    # --- every pool, every tick (the reference) ---------------------------------------------

    def _decide_every_pool(self, now: float, cluster: Cluster, woken: set[int]) -> None:
        everything = range(len(self.names))
        self._read_queues(now, cluster, woken or everything)
        self.readings = [_observation(self._key(i, cluster)) for i in everything]
        tokens = {name: _tokens(tenant) for name, tenant in cluster.tenants.items()}
        observations = Observations(dict(zip(self.names, self.readings, strict=True)), tokens)
        decisions = decide(self.config, observations, history=self.history, now=now)
        self.claimed += len(decisions)
        self.history.record_tick(decisions, observations, now)
        self._act(now, cluster, decisions, everything)

    # --- only what can change ---------------------------------------------------------------

    def _first(self, now: float, cluster: Cluster, woken: set[int]) -> None:
        everything = range(len(self.names))
        self._read_queues(now, cluster, woken or everything)
        if not woken:
            cluster.dirty.clear()
        self.keys = [self._key(i, cluster) for i in everything]
        self.readings = [_observation(key) for key in self.keys]
        self.observations = Observations(
            dict(zip(self.names, self.readings, strict=True)), self.tokens
        )
        for name, tenant in cluster.tenants.items():
            self._budget(name, tenant)
        self.claims = [self._claim(i, now) for i in everything]
        self.decisions = [c.decision(c.alone) for c in self.claims]
        self._pass(now, cluster, set(everything))

    def _decide_what_changed(self, now: float, cluster: Cluster, woken: set[int]) -> None:
        dirty = cluster.dirty
        if woken:
            self._read_queues(now, cluster, woken)
            seen = dirty | woken  # the others' queues are read at the next regular tick
        else:
            self._read_queues(now, cluster, dirty)
            seen, cluster.dirty = dirty, set()
        changed: set[int] = set()
        pools = self.observations.pools
        assert isinstance(pools, dict)
        fresh: dict[int, PoolObservation] = {}
        tenants: set[str] = set()
        keys = self.keys
        for i in seen:
            key = self._key(i, cluster)
            if key != keys[i]:
                keys[i] = key
                fresh[i] = _observation(key)
            tenants.add(cluster.pools[i].tenant.name)
        for name in tenants:
            if self._budget(name, cluster.tenants[name]):
                changed.update(p.index for p in cluster.tenants[name].pools)
        releases, stamps = self.releases, self.stamps
        while releases and releases[0][0] <= now + _SLACK:
            _, i, stamp = heapq.heappop(releases)
            if stamp == stamps[i]:
                changed.add(i)
        changed.update(fresh)
        for i in changed:
            self._catch_up(i)
            if i in fresh:
                self.readings[i] = pools[self.names[i]] = fresh[i]
            self.claims[i] = self._claim(i, now)
        self._pass(now, cluster, changed)

    def _budget(self, name: str, tenant: Tenant) -> bool:
        """Read a tenant's tokens; whether its budget rule changed."""
        used = self.tokens[name] = _tokens(tenant)
        rule = budget_rule(self.config.tenants[name], used)
        if name in self.rules and self.rules[name] == rule:
            return False
        self.rules[name] = rule
        return True

    def _claim(self, i: int, now: float) -> Claim:
        self.claimed += 1
        made = claim(self.names[i], self.pool_configs[i], self.config, self.observations,
                     NO_OVERRIDES, self.history, now)  # fmt: skip
        self.demand.set(made)
        return made

    def _catch_up(self, i: int) -> None:
        """Write what the ticks since pool i was last claimed recorded: see the docstring."""
        reading = self.readings[i]
        if reading.stale is None and self.recorded[i] < self.previous:
            self.history.record_pool(
                self.names[i], self.claims[i].recommendation, reading.lag, self.previous
            )
            self.recorded[i] = self.previous

    def _pass(self, now: float, cluster: Cluster, changed: set[int]) -> None:
        claims, decisions = self.claims, self.decisions
        fits = self.demand.fits()
        if fits and not self.short:
            for i in changed:
                decisions[i] = claims[i].decision(claims[i].alone)
            acted: Iterable[int] = sorted(changed)
        else:
            if fits:
                decisions[:] = [c.decision(c.alone) for c in claims]
            else:
                run = [c.copy() for c in claims]
                allocate(self.config, run)
                decisions[:] = [c.decision() for c in run]
            acted = range(len(claims))
        self.short = not fits
        for i in changed:
            reading = self.readings[i]
            if reading.stale is None:
                self.history.record_pool(self.names[i], claims[i].recommendation, reading.lag, now)
                self.recorded[i] = now
        stepped = self._act(now, cluster, decisions, acted)
        for i in changed.union(stepped):
            self.stamps[i] += 1
            release = self._release(i, now)
            if release < math.inf:
                heapq.heappush(self.releases, (release, i, self.stamps[i]))

    def _release(self, i: int, then: float) -> float:
        """When pool i's claim may change by time alone (controller.policy.settled_until)."""
        made = self.claims[i]
        if made.held:
            return math.inf
        past = self.history.get(self.names[i])
        return settled_until(self.pool_configs[i], past, made.current, made.recommendation, then)

    # --- acting -----------------------------------------------------------------------------

    def _act(
        self, now: float, cluster: Cluster, decisions: list[ScaleDecision], pools: Iterable[int]
    ) -> list[int]:
        """Scale where decided (in pool order, as the live loop patches); the pools stepped."""
        stepped, wakes = [], self.wakes
        for i in pools:
            d = decisions[i]
            if d.changes:
                self.history.record_scale(d.pool, now, d.current, d.desired)
                self.actions.append((now, d.pool, d.current, d.desired))
                cluster.scale(i, d.desired, now)
                stepped.append(i)
            wakes[i] = d.desired == 0 and d.observed
            cluster.hold(i, any(r.rule in _HOLDING for r in d.reasons))
        return stepped


def _observation(key: _Key) -> PoolObservation:
    stats, replicas, ready, mean_work = key
    if stats is None:
        return PoolObservation(0, 0, replicas, ready, stale=_NOT_READ)
    pending, ack, rate = stats
    return PoolObservation(pending, ack, replicas, ready, rate, mean_work)


def _tokens(tenant: Tenant) -> int:
    """A tenant's tokens as the policy should see them.

    A hard-capped tenant that cannot afford any task it has waiting has, for scaling, spent
    its budget: live, the next task would take it to the cap. Reporting it at the cap lets
    the policy scale its pools to zero instead of holding pods that may not start anything.
    """
    if tenant.budget is None or not tenant.hard_cap:
        return tenant.used
    waiting = [p for p in tenant.pools if p.queue]
    stuck = bool(waiting) and all(p.blocked for p in waiting)
    return max(tenant.used, tenant.budget) if stuck else tenant.used
