"""agentdash in virtual time: a thin shell around the live loop's engine
(controller.core.engine.Engine), reading the simulated cluster instead of the sources.

Reading. As the live loop does, it ticks on a fixed schedule, every
`controller.interval_seconds`, and at once when a task reaches a pool whose last decision was
0 replicas (such a wake-up leaves the schedule as it was). Every
tick reads replicas, ready pods and the mean task time of the pools touched since; a wake-up
reads the queues (pending, ack_pending, arrival rate) of the woken pools only, a regular tick
those of every pool touched. The arrival rate is what controller.sources.jetstream reports:
arrivals in the last RATE_WINDOW_S over that window. Today's tokens per tenant are what the
workers' usage reports add up to (controller.sources.usage), from finished tasks.

Skipping quiet time. A tick that would read nothing new (no task arrived, started or finished,
no pod changed, no arrival left the rate window) while the engine is calm (nothing to claim,
no time rule letting go, no budget paced or at its reset: Engine.calm_until) only counts
itself (Engine.skip): a quiet hour costs a few comparisons a tick, not a step each.

Acting. A change takes a token of the Kubernetes client's bucket (kubernetes.qps, .burst); one
the bucket cannot pay waits for a later tick, as the live client's limiter makes it wait
(controller.simulate.scale_calls: a waiting pool costs nothing at a tick with no token).

tests/controller/simulate/test_skipping.py checks this shell against `decide` over every pool
at every tick; tests/controller/runtime/test_one_engine.py checks that the live loop, fed the
same readings, makes the same decisions.
"""

from __future__ import annotations

from controller.core.accounting import RATE_WINDOW_S
from controller.core.budget import holds_back
from controller.core.config import Config
from controller.core.engine import Engine
from controller.core.events import ScaleEvent
from controller.core.held_claims import TENANT_PAUSED
from controller.core.model import PoolObservation, Reason
from controller.simulate.cluster import Cluster
from controller.simulate.cluster_parts import Tenant
from controller.simulate.scale_calls import ScaleCalls

_NOT_READ = "queue not read yet"


class VirtualLoop:
    name = "agentdash"
    gate_budgets = False
    """Its workers take whatever task comes, as the baselines' do: the budget is kept by
    scaling alone (controller.core.policy's pace and caps), not by a worker that would have to
    know a task's tokens before running it."""
    marks_idle = True
    """As the live Kubernetes scaler does with the workers' busy reports."""

    def __init__(self, config: Config, *, explain: bool = False) -> None:
        self.config = config
        # Explained, every reading is claimed again so that the reasons quote the figures of
        # the tick they are given at, as the live loop's do; the decisions are the same.
        self.engine = Engine(config, exact_reasons=explain)
        self.explained: list[ScaleEvent] | None = [] if explain else None
        """With `explain`, every change made, with its reasons."""
        self.history = self.engine.history
        self.names = self.engine.names
        self.pool_configs = list(config.pools.values())
        n = len(self.names)
        self.readings: list[PoolObservation | None] = [None] * n
        """Each pool as last read (and told to the engine)."""
        self.interval = config.controller.interval_seconds
        self.wakes = bytearray([1]) * n  # the live loop starts with all idle
        self.woken: set[int] = set()
        self.departed = [0] * n
        """Per pool: arrivals that have left the rate window."""
        self._gone = 0
        """Trace index of the oldest task still inside the rate window."""
        self.budgeted = [
            config.tenants[p.tenant].daily_token_budget is not None for p in config.pools.values()
        ]
        self.tenants_seen: set[Tenant] = set()
        """Budgeted tenants with a pool read since their tokens were."""
        self.started = False
        self.actions: list[tuple[float, str, int, int]] = []
        """(time, pool, from, to) for every change actuated."""
        self.calls = ScaleCalls(config.kubernetes.qps, float(config.kubernetes.burst))
        """The Kubernetes client's token bucket, and the changes waiting for a token."""
        self.throttled = 0
        """Changes that had to wait for the bucket, counted at each tick they waited."""
        self.ticks = 0
        self.skipped = 0
        """Ticks that were quiet (`_calm`): counted, not stepped."""
        self.due = 0.0
        """When the next scheduled tick is due (as controller.runtime.schedule.TickSchedule
        books the live loop's)."""

    @property
    def claimed(self) -> int:
        """Pool claims evaluated over the run."""
        return self.engine.claimed

    def initial(self) -> list[int]:
        return [pool.min_replicas for pool in self.config.pools.values()]

    def wake(self, now: float, pool: int) -> float:
        self.woken.add(pool)
        return now

    def tick(self, now: float, cluster: Cluster) -> float:
        self.ticks += 1
        self.calls.refill(now)
        if self._calm(now, cluster):
            self.skipped += 1
            self.engine.skip(now)
            return self.next_tick(now)
        woken, self.woken = self.woken, set()
        self._depart(now, cluster)
        self.observe(now, cluster, woken)
        self.act(now, cluster, self.engine.step(now))
        return self.next_tick(now)

    def next_tick(self, now: float) -> float:
        """A scheduled tick sets the next one an interval after it was due (or now, if it
        is late); a wake-up's tick leaves the schedule alone."""
        if now >= self.due - 1e-9:
            self.due = max(self.due + self.interval, now)
        return self.due

    def _calm(self, now: float, cluster: Cluster) -> bool:
        """Whether this tick would read nothing new and the engine would decide nothing: no
        task arrived, started or finished, no pod changed, no arrival left the rate window
        (nor is it still filling), and the engine is calm (Engine.calm_until). Such a tick
        only counts itself: a quiet hour costs a few comparisons a tick, not a step."""
        if self.woken or cluster.dirty or now < RATE_WINDOW_S or self.calls.waiting:
            return False
        g, times = self._gone, cluster.arrival
        if g < len(times) and times[g] <= now - RATE_WINDOW_S:
            return False  # an arrival leaves the window at this tick (as `_depart` finds)
        return now < self.engine.calm_until()

    # --- reading --------------------------------------------------------------------------

    def _depart(self, now: float, cluster: Cluster) -> None:
        """Count out of the rate window the arrivals that left it; their pools' rates moved."""
        times, g, departed = cluster.arrival, self._gone, self.departed
        # The trace is sorted by time, and a tick sees few arrivals leave: a walk from the
        # oldest one in the window, where a bisection reads a trace's column (an array
        # subclass) through Python's __getitem__ at each step.
        cutoff, end, n = now - RATE_WINDOW_S, g, len(times)
        while end < n and times[end] <= cutoff:
            end += 1
        if end > g:
            gone = cluster.task_pool[g:end]
            for i in gone:
                departed[i] += 1
            cluster.dirty.update(gone)
            self._gone = end
        if now < RATE_WINDOW_S:  # the window is still filling: every rate's span moves
            cluster.dirty.update(p.index for p in cluster.pools if p.arrived > departed[p.index])

    def _read(self, i: int, cluster: Cluster, now: float, queue: bool) -> PoolObservation:
        """Pool i as a tick sees it: replicas, ready pods, mean task time and tokens a task
        always; its queue (pending, ack_pending, arrival rate) only if `queue`, else as last
        read."""
        p = cluster.pools[i]
        if queue:
            span = min(now, RATE_WINDOW_S)
            rate = (p.arrived - self.departed[i]) / span if span > 0 else None
            return PoolObservation(
                pending=len(p.queue),
                ack_pending=p.running,
                replicas=p.spec,
                ready=p.ready,
                arrival_rate=rate,
                mean_task_seconds=p.mean_work,
                task_tokens=p.price.mean(),
            )
        last = self.readings[i]
        if last is None or last.stale is not None:
            return PoolObservation(
                pending=0, ack_pending=0, replicas=p.spec, ready=p.ready, stale=_NOT_READ
            )
        return PoolObservation(
            pending=last.pending,
            ack_pending=last.ack_pending,
            replicas=p.spec,
            ready=p.ready,
            arrival_rate=last.arrival_rate,
            mean_task_seconds=p.mean_work,
            task_tokens=p.price.mean(),
            stale_reads=last.stale_reads,
        )

    def observe(self, now: float, cluster: Cluster, woken: set[int]) -> None:
        """Tell the engine what changed since the last tick: the pools touched (at a wake-up,
        the queues of the woken only) and their tenants' tokens."""
        engine = self.engine
        if not self.started:
            self.started = True
            seen: set[int] = set(range(len(self.names)))
            if not woken:
                cluster.dirty.clear()
            self.tenants_seen.update(cluster.tenants.values())
        elif woken:
            seen = cluster.dirty | woken  # the others' queues are read at the next regular tick
        else:
            seen, cluster.dirty = cluster.dirty, set()
        every, budgeted, tenants = cluster.pools, self.budgeted, self.tenants_seen
        for i in seen:
            if budgeted[i]:
                tenants.add(every[i].tenant)
            queue = not woken or i in woken
            reading = self.readings[i] = self._read(i, cluster, now, queue=queue)
            engine.read(i, reading)  # (which drops a reading equal to the last)
        for tenant in tenants:
            engine.tokens(tenant.name, _tokens(tenant), tasks=tenant.done)
        tenants.clear()

    # --- acting -----------------------------------------------------------------------------

    def act(self, now: float, cluster: Cluster, pools: list[int]) -> None:
        """Act on the pools claimed again (`pools`, in pool order) and make the changes that
        wait for a token, all in pool order, as the live loop asks the client's limiter."""
        calls = self.calls
        for i in pools:
            while calls.has_token() and (first := calls.first()) is not None and first < i:
                self._patch(now, cluster, first)
            self._act_on(now, cluster, i)
        while calls.has_token() and (first := calls.first()) is not None:
            self._patch(now, cluster, first)
        self.throttled += calls.waiting

    def _act_on(self, now: float, cluster: Cluster, i: int) -> None:
        """Pool i's new decision: its change made (or left to wait for a token), its wake
        from zero armed, and whether its tenant's budget or pause holds it back."""
        decision = self.engine.decision(i)
        if decision.changes:
            if self.calls.has_token():
                self._patch(now, cluster, i)
            else:
                self.calls.wait(i)
        else:
            self.calls.done(i)
        self.wakes[i] = decision.desired == 0 and decision.observed
        if cluster.pools[i].held or self.budgeted[i]:  # (a budget may hold it, rule or not)
            cluster.hold(i, any(_holds_back(r) for r in decision.reasons))

    def _patch(self, now: float, cluster: Cluster, i: int) -> None:
        """Scale pool i as decided, with a token of the client's bucket."""
        decision = self.engine.decision(i)
        self.calls.done(i)
        if not (decision.changes and self.calls.take()):
            return
        self.engine.scaled(i, now, decision.current, decision.desired)
        self.actions.append((now, self.names[i], decision.current, decision.desired))
        cluster.scale(i, decision.desired, now)
        if self.explained is not None:
            self.explained.append(ScaleEvent.of(decision, now))


def _holds_back(reason: Reason) -> bool:
    """Whether a reason held the pool back for its tenant: a pause, or a budget's rule that
    bound (a warning that the forecast fits holds nothing)."""
    return reason.rule == TENANT_PAUSED or holds_back(reason)


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
