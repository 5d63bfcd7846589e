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
(`controller.policy.claim`) can change only when its reading has a new footprint
(`controller.policy.footprint`), when its tenant's budget rule changes
(`controller.policy.budget_rule`), or when a time rule may let go (`Claim.until`: a cooldown
ends, an entry that bound leaves its window). And while every shared ceiling has room for all
the claims, `allocate` grants each claim what it would get alone
(`controller.allocation.Demand`). So a tick claims only those pools again (about 11 of 100 on
a busy day), and runs `allocate` over all the claims only when a ceiling is short.

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

from controller.allocation import Claim, Demand, allocate
from controller.config import Config
from controller.history import History, PoolHistory
from controller.model import Observations, PoolObservation
from controller.policy import NO_OVERRIDES, WARNING, budget_rule, claim, decide, footprint
from controller.simulate.cluster import Cluster, Tenant
from controller.sources import RATE_WINDOW_S
from controller.usage import ReplicaSeconds

_NOT_READ = "queue not read yet"
_HOLDING = frozenset({"budget exhausted", "budget spent", "budget warning", "paused"})
"""Rules of controller.policy that hold a pool back for its tenant's budget or a pause."""
_SLACK = 1e-6
"""A time rule due within this long of a tick counts as due at it (float noise)."""


class Reconciler:
    name = "agentdash"
    gate_budgets = False
    """Its workers take whatever task comes, as the baselines' do: the budget is kept by
    scaling alone (controller.policy's pace and caps), not by a worker that would have to
    know a task's tokens before running it."""
    marks_idle = True
    """As the live Kubernetes scaler does with the workers' busy reports."""

    def __init__(self, config: Config, *, skip: bool = True) -> None:
        self.config = config
        self.skip = skip
        self.names = list(config.pools)
        self.pool_configs = list(config.pools.values())
        self.waits = [config.target_wait[name] for name in config.pools]
        n = len(self.names)
        self.interval = config.controller.interval_seconds
        self.history = History(config)
        self.wakes = bytearray([1]) * n  # the live loop starts with all idle
        self.woken: set[int] = set()
        self.departed = [0] * n
        """Per pool: arrivals that have left the rate window."""
        self._gone = 0
        """Trace index of the oldest task still inside the rate window."""
        self.readings: list[PoolObservation] = []
        self.tokens: dict[str, int] = {}
        self.spent: dict[str, float] = {}
        """Replica-seconds today per tenant, as the policy last read them (budget pacing)."""
        self.replica_seconds = ReplicaSeconds()
        self.tenant_replicas: dict[str, int] = {}
        for pool in self.pool_configs:
            self.tenant_replicas[pool.tenant] = (
                self.tenant_replicas.get(pool.tenant, 0) + pool.min_replicas
            )
        for tenant, replicas in self.tenant_replicas.items():
            self.replica_seconds.set(tenant, replicas, 0.0)
        self.observations = Observations({}, self.tokens, replica_seconds_today=self.spent)
        self.rules: dict[str, str | None] = {}
        self.prints: list[tuple[bool, int, int, bool, int]] = []
        """Per pool: its reading's footprint (controller.policy.footprint)."""
        self.budgeted = [config.tenants[p.tenant].daily_token_budget is not None
                         for p in self.pool_configs]  # fmt: skip
        self.tenants_seen: set[Tenant] = set()
        """Budgeted tenants with a pool read since their tokens were."""
        self.claims: list[Claim] = []
        self.desired: list[int] = []
        self.busy: list[bool | None] = [None] * n
        """Per pool: whether the reading its claim used had lag (None: stale, not recorded)."""
        self.demand = Demand(config)
        self.short = False
        """The last pass needed `allocate`: some shared ceiling was short."""
        self.recorded = [-math.inf] * n
        """When each pool's recommendation was last written to the history."""
        self.entries: list[PoolHistory | None] = [None] * n
        """Each pool's history entry, at hand once it exists."""
        self.release_at = [math.inf] * n
        """Per pool: when its claim may change by time alone (Claim.until)."""
        self.releases: list[tuple[float, int]] = []
        """Heap of (release_at, pool); an entry no longer in release_at is stale."""
        self.previous = -math.inf
        self.actions: list[tuple[float, str, int, int]] = []
        """(time, pool, from, to) for every change actuated."""
        self.qps = config.kubernetes.qps
        self.burst = float(config.kubernetes.burst)
        self.patches = self.burst
        """The Kubernetes client's token bucket (kubernetes.qps, .burst): a patch takes one;
        a patch it cannot pay waits for a later tick, as the live client's limiter makes it
        wait."""
        self.previous_tick = 0.0
        self.deferred: set[int] = set()
        """Pools whose patch waits for the bucket: claimed again at the next tick."""
        self.throttled = 0
        """Patches that had to wait for the bucket."""
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
        tokens = self.patches + self.qps * (now - self.previous_tick)
        self.patches = tokens if tokens < self.burst else self.burst
        self.previous_tick = now
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

    def _read(self, i: int, cluster: Cluster, now: float, queue: bool) -> PoolObservation:
        """Pool i as a tick sees it: replicas, ready pods and mean task time always; its
        queue (pending, ack_pending, arrival rate) only if `queue`, else as last read."""
        p = cluster.pools[i]
        if queue:
            span = min(now, RATE_WINDOW_S)
            rate = (p.arrived - self.departed[i]) / span if span > 0 else None
            return PoolObservation(len(p.queue), p.running, p.spec, p.ready, rate, p.mean_work)
        last = self.readings[i] if self.readings else None
        if last is None or last.stale is not None:
            return PoolObservation(0, 0, p.spec, p.ready, stale=_NOT_READ)
        return last._replace(replicas=p.spec, ready=p.ready, mean_task_seconds=p.mean_work)

    # --- every pool, every tick (the reference) ---------------------------------------------

    def _decide_every_pool(self, now: float, cluster: Cluster, woken: set[int]) -> None:
        self.deferred = set()  # every pool is decided again anyway
        everything = range(len(self.names))
        self.readings = [self._read(i, cluster, now, not woken or i in woken) for i in everything]
        tokens = {name: _tokens(tenant) for name, tenant in cluster.tenants.items()}
        observations = Observations(
            dict(zip(self.names, self.readings, strict=True)),
            tokens,
            replica_seconds_today=self.replica_seconds.today(now),
        )
        decisions = decide(self.config, observations, history=self.history, now=now)
        self.claimed += len(decisions)
        self.history.record_tick(decisions, observations, now)
        for i, d in enumerate(decisions):  # in pool order, as the live loop patches
            if d.changes:
                self._patch(now, cluster, i, d.current, d.desired)
            self.wakes[i] = d.desired == 0 and d.observed
            cluster.hold(i, any(r.rule in _HOLDING for r in d.reasons))

    # --- only what can change ---------------------------------------------------------------

    def _first(self, now: float, cluster: Cluster, woken: set[int]) -> None:
        everything = range(len(self.names))
        if not woken:
            cluster.dirty.clear()
        self.readings = [self._read(i, cluster, now, not woken or i in woken) for i in everything]
        self.prints = [
            footprint(c, r, w)
            for c, r, w in zip(self.pool_configs, self.readings, self.waits, strict=True)
        ]
        self.observations = Observations(
            dict(zip(self.names, self.readings, strict=True)),
            self.tokens,
            replica_seconds_today=self.spent,
        )
        for name, tenant in cluster.tenants.items():
            self._budget(name, tenant)
        self.spent.update(self.replica_seconds.today(now))
        self.claims = [
            claim(name, pool, self.config, self.observations, NO_OVERRIDES, self.history, now)
            for name, pool in zip(self.names, self.pool_configs, strict=True)
        ]
        self.claimed += len(self.claims)
        self.desired = [self.demand.set(c) for c in self.claims]
        self.busy = [None if stale else lag for stale, _, _, lag, _ in self.prints]
        self._settle(now, cluster, set(everything))

    def _decide_what_changed(self, now: float, cluster: Cluster, woken: set[int]) -> None:
        """The hot path: about ten pools a tick on a busy day. Written for speed, in steps."""
        # 1. Read every pool touched since its last reading (at a wake-up, the queues of
        # the woken only), and 2. find the pools to claim again: those whose reading has a
        # new footprint, those of a tenant whose budget rule changed, those whose time
        # rules may let go now.
        dirty, every = cluster.dirty, cluster.pools
        if woken:
            seen = dirty | woken  # the others' queues are read at the next regular tick
        else:
            seen, cluster.dirty = dirty, set()
        changed: set[int] = set()
        pools, names, configs = self.observations.pools, self.names, self.pool_configs
        assert isinstance(pools, dict)
        readings, prints, departed, waits = self.readings, self.prints, self.departed, self.waits
        budgeted, tenants = self.budgeted, self.tenants_seen
        span = min(now, RATE_WINDOW_S)
        for i in seen:
            p = every[i]
            if budgeted[i]:
                tenants.add(p.tenant)
            if woken and i not in woken:
                reading = self._read(i, cluster, now, queue=False)
            else:  # self._read(i, cluster, now, queue=True), inline: the hottest line
                rate = (p.arrived - departed[i]) / span if span > 0 else None
                reading = PoolObservation(
                    len(p.queue), p.running, p.spec, p.ready, rate, p.mean_work
                )
            if reading != readings[i]:
                readings[i] = pools[names[i]] = reading
                mark = footprint(configs[i], reading, waits[i])
                if mark != prints[i]:
                    prints[i] = mark
                    changed.add(i)
        for tenant in tenants:
            if self._budget(tenant.name, tenant):
                changed.update(p.index for p in tenant.pools)
        tenants.clear()
        if WARNING in self.rules.values():
            # A paced tenant's pools follow its tokens, replica-seconds and the clock: they
            # are claimed again at every tick, as every pool is in the live loop.
            self.spent.update(self.replica_seconds.today(now))
            for name, rule in self.rules.items():
                if rule == WARNING:
                    changed.update(p.index for p in cluster.tenants[name].pools)
        if self.deferred:
            changed |= self.deferred
            self.deferred = set()
        releases, release_at = self.releases, self.release_at
        while releases and releases[0][0] <= now + _SLACK:
            due, i = heapq.heappop(releases)
            if due == release_at[i]:
                release_at[i] = math.inf
                changed.add(i)
        if not changed:
            return
        # 3. Claim them again, each after writing the history its skipped ticks would have.
        claims, desired, busy, recorded = self.claims, self.desired, self.busy, self.recorded
        record, demand, previous = self._record, self.demand, self.previous
        config, observations, history = self.config, self.observations, self.history
        for i in changed:
            lag = busy[i]
            if lag is not None and recorded[i] < previous:
                record(i, claims[i].recommendation, lag, previous)
            made = claims[i] = claim(
                names[i], configs[i], config, observations, NO_OVERRIDES, history, now
            )
            desired[i] = demand.set(made)
            stale, _, _, lag, _ = prints[i]
            busy[i] = None if stale else lag
        self.claimed += len(changed)
        self._settle(now, cluster, changed)

    def _settle(self, now: float, cluster: Cluster, changed: set[int]) -> None:
        """Steps 4 and 5, once the `changed` pools have new claims."""
        # 4. Share the ceilings: nothing to do while every claim fits alone.
        fits = self.demand.fits() and not self.short
        acted = sorted(changed) if fits else self._share()
        claims, desired, busy, every = self.claims, self.desired, self.busy, cluster.pools
        record, recorded, releases, release_at = (
            self._record, self.recorded, self.releases, self.release_at
        )  # fmt: skip
        # 5. Remember new claims' recommendations, act (in pool order, as the live loop
        # patches), and note when each new claim's time rules may let go.
        wakes, rules = self.wakes, self.rules
        for i in acted:
            made, want = claims[i], desired[i]
            if fits or i in changed:
                lag = busy[i]
                if lag is not None:
                    record(i, made.recommendation, lag, now)
                    recorded[i] = now
                due = made.until
                if due != release_at[i]:
                    release_at[i] = due
                    if due < math.inf:
                        heapq.heappush(releases, (due, i))
            if want != made.current and not made.held:
                self._patch(now, cluster, i, made.current, want)
            wakes[i] = want == 0 and made.observed
            if every[i].held or rules[made.pool.tenant] is not None:
                cluster.hold(i, any(r.rule in _HOLDING for r in made.reasons))

    def _record(self, i: int, recommendation: int, busy: bool, now: float) -> None:
        """History.record_pool, with the pool's entry kept at hand."""
        entry = self.entries[i]
        if entry is None:
            entry = self.entries[i] = self.history.pool(self.names[i], now)
        entry.record(now, recommendation, busy)

    def _share(self) -> range:
        """Grants when some shared ceiling is (or was) short: allocate() over every claim."""
        claims = self.claims
        if self.demand.fits():
            self.desired = [c.alone for c in claims]
            self.short = False
        else:
            run = [c.copy() for c in claims]
            allocate(self.config, run)
            self.desired = [c.granted for c in run]
            self.short = True
        return range(len(claims))

    def _budget(self, name: str, tenant: Tenant) -> bool:
        """Read a tenant's tokens; whether its budget rule changed."""
        used = _tokens(tenant)
        if name in self.rules and self.tokens[name] == used:
            return False
        self.tokens[name] = used
        rule = budget_rule(self.config.tenants[name], used)
        changed = name not in self.rules or self.rules[name] != rule
        self.rules[name] = rule
        return changed

    # --- acting -----------------------------------------------------------------------------

    def _patch(self, now: float, cluster: Cluster, i: int, current: int, desired: int) -> None:
        """Scale pool i if the client's bucket has a token; else it waits for a later tick."""
        if self.patches >= 1.0:
            self.patches -= 1.0
            self._step(now, cluster, i, current, desired)
        else:
            self.throttled += 1
            self.deferred.add(i)

    def _step(self, now: float, cluster: Cluster, i: int, current: int, desired: int) -> None:
        name = self.names[i]
        tenant = self.pool_configs[i].tenant
        replicas = self.tenant_replicas[tenant] = self.tenant_replicas[tenant] + desired - current
        self.replica_seconds.set(tenant, replicas, now)
        self.history.record_scale(name, now, current, desired)
        self.actions.append((now, name, current, desired))
        cluster.scale(i, desired, now)


def _tokens(tenant: Tenant) -> int:
    """A tenant's tokens as the policy should see them.

    A hard-capped tenant that cannot afford any task it has waiting has, for scaling, spent
    its budget: live, the next task would take it to the cap. Reporting it at the cap lets
    the policy scale its pools to zero instead of holding pods that may not start anything.
    """
    if tenant.budget is None or not tenant.hard_cap or not tenant.blocked:
        return tenant.used  # (a blocked pool always has tasks waiting)
    waiting = [p for p in tenant.pools if p.queue]
    stuck = bool(waiting) and all(p.blocked for p in waiting)
    return max(tenant.used, tenant.budget) if stuck else tenant.used
